package audit

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// This file writes OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding),
// the encoding the Collector's file exporter writes: ids in lower-case hex
// (not protojson's base64), 64-bit integers as decimal strings, enums as
// numbers, lowerCamelCase field names. pgveil's own file exporter writes the
// same lines, so the auditors' queries (README.md) work on both.

// appendOTLPJSON appends one line: rss as an OTLP/JSON
// ExportTraceServiceRequest, then '\n'. It writes the JSON directly (no
// reflection, no intermediate structs): encoding spans is the audit
// pipeline's hottest step. The bytes are what encoding/json would write for
// the same structure (HTML-safe string escaping, its float format).
func appendOTLPJSON(dst []byte, rss []*tracepb.ResourceSpans) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"resourceSpans":[`...)
	for i, rs := range rss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"resource":{`...)
		if kvs := rs.GetResource().GetAttributes(); len(kvs) > 0 {
			dst = append(dst, `"attributes":`...)
			dst = appendKVs(dst, kvs)
		}
		dst = append(dst, `},"scopeSpans":[`...)
		for j, ss := range rs.GetScopeSpans() {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"scope":{`...)
			sep := false
			if n := ss.GetScope().GetName(); n != "" {
				dst = append(dst, `"name":`...)
				dst = appendJSONString(dst, n)
				sep = true
			}
			if v := ss.GetScope().GetVersion(); v != "" {
				if sep {
					dst = append(dst, ',')
				}
				dst = append(dst, `"version":`...)
				dst = appendJSONString(dst, v)
			}
			dst = append(dst, `},"spans":[`...)
			for k, sp := range ss.GetSpans() {
				if k > 0 {
					dst = append(dst, ',')
				}
				dst = appendSpan(dst, sp)
			}
			dst = append(dst, ']')
			if u := ss.GetSchemaUrl(); u != "" {
				dst = append(dst, `,"schemaUrl":`...)
				dst = appendJSONString(dst, u)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
		if u := rs.GetSchemaUrl(); u != "" {
			dst = append(dst, `,"schemaUrl":`...)
			dst = appendJSONString(dst, u)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, "]}\n"...)
	if !utf8.Valid(dst[start:]) {
		return dst[:start], errors.New("otlp json: invalid UTF-8 after escaping")
	}
	return dst, nil
}

func appendSpan(dst []byte, s *tracepb.Span) []byte {
	dst = append(dst, `{"traceId":"`...)
	dst = hex.AppendEncode(dst, s.GetTraceId())
	dst = append(dst, `","spanId":"`...)
	dst = hex.AppendEncode(dst, s.GetSpanId())
	dst = append(dst, '"')
	if ts := s.GetTraceState(); ts != "" {
		dst = append(dst, `,"traceState":`...)
		dst = appendJSONString(dst, ts)
	}
	if p := s.GetParentSpanId(); len(p) > 0 {
		dst = append(dst, `,"parentSpanId":"`...)
		dst = hex.AppendEncode(dst, p)
		dst = append(dst, '"')
	}
	if f := s.GetFlags(); f != 0 {
		dst = append(dst, `,"flags":`...)
		dst = strconv.AppendUint(dst, uint64(f), 10)
	}
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, s.GetName())
	if k := int32(s.GetKind()); k != 0 {
		dst = append(dst, `,"kind":`...)
		dst = strconv.AppendInt(dst, int64(k), 10)
	}
	dst = append(dst, `,"startTimeUnixNano":"`...)
	dst = strconv.AppendUint(dst, s.GetStartTimeUnixNano(), 10)
	dst = append(dst, `","endTimeUnixNano":"`...)
	dst = strconv.AppendUint(dst, s.GetEndTimeUnixNano(), 10)
	dst = append(dst, '"')
	if kvs := s.GetAttributes(); len(kvs) > 0 {
		dst = append(dst, `,"attributes":`...)
		dst = appendKVs(dst, kvs)
	}
	if n := s.GetDroppedAttributesCount(); n != 0 {
		dst = append(dst, `,"droppedAttributesCount":`...)
		dst = strconv.AppendUint(dst, uint64(n), 10)
	}
	if evs := s.GetEvents(); len(evs) > 0 {
		dst = append(dst, `,"events":[`...)
		for i, e := range evs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"timeUnixNano":"`...)
			dst = strconv.AppendUint(dst, e.GetTimeUnixNano(), 10)
			dst = append(dst, `","name":`...)
			dst = appendJSONString(dst, e.GetName())
			if kvs := e.GetAttributes(); len(kvs) > 0 {
				dst = append(dst, `,"attributes":`...)
				dst = appendKVs(dst, kvs)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if ls := s.GetLinks(); len(ls) > 0 {
		dst = append(dst, `,"links":[`...)
		for i, l := range ls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"traceId":"`...)
			dst = hex.AppendEncode(dst, l.GetTraceId())
			dst = append(dst, `","spanId":"`...)
			dst = hex.AppendEncode(dst, l.GetSpanId())
			dst = append(dst, '"')
			if kvs := l.GetAttributes(); len(kvs) > 0 {
				dst = append(dst, `,"attributes":`...)
				dst = appendKVs(dst, kvs)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"status":{`...)
	st := s.GetStatus()
	sep := false
	if m := st.GetMessage(); m != "" {
		dst = append(dst, `"message":`...)
		dst = appendJSONString(dst, m)
		sep = true
	}
	if c := int32(st.GetCode()); c != 0 {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"code":`...)
		dst = strconv.AppendInt(dst, int64(c), 10)
	}
	return append(dst, "}}"...)
}

func appendKVs(dst []byte, kvs []*commonpb.KeyValue) []byte {
	dst = append(dst, '[')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendJSONString(dst, kv.GetKey())
		dst = append(dst, `,"value":`...)
		dst = appendValue(dst, kv.GetValue())
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendValue(dst []byte, v *commonpb.AnyValue) []byte {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		dst = append(dst, `{"stringValue":`...)
		dst = appendJSONString(dst, x.StringValue)
	case *commonpb.AnyValue_BoolValue:
		dst = append(dst, `{"boolValue":`...)
		dst = strconv.AppendBool(dst, x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		dst = append(dst, `{"intValue":"`...)
		dst = strconv.AppendInt(dst, x.IntValue, 10)
		dst = append(dst, '"')
	case *commonpb.AnyValue_DoubleValue:
		dst = append(dst, `{"doubleValue":`...)
		dst = appendJSONFloat(dst, x.DoubleValue)
	case *commonpb.AnyValue_BytesValue:
		if len(x.BytesValue) == 0 {
			return append(dst, "{}"...)
		}
		dst = append(dst, `{"bytesValue":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, x.BytesValue)
		dst = append(dst, '"')
	case *commonpb.AnyValue_ArrayValue:
		dst = append(dst, `{"arrayValue":{"values":[`...)
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, e)
		}
		dst = append(dst, "]}"...)
	case *commonpb.AnyValue_KvlistValue:
		dst = append(dst, `{"kvlistValue":{"values":`...)
		if kvs := x.KvlistValue.GetValues(); len(kvs) > 0 {
			dst = appendKVs(dst, kvs)
		} else {
			dst = append(dst, "null"...)
		}
		dst = append(dst, '}')
	default:
		return append(dst, "{}"...)
	}
	return append(dst, '}')
}

// appendJSONFloat formats f as encoding/json does (NaN and infinities,
// which JSON cannot hold, become null).
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst) - start
		if n >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// appendJSONString appends s as a JSON string with encoding/json's
// escaping: quotes, backslashes, control characters, <, >, &, U+2028 and
// U+2029 escaped; invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
