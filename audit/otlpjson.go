package audit

import (
	"encoding/hex"
	"encoding/json"
	"strconv"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// This file writes OTLP/JSON (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding),
// the encoding the Collector's file exporter writes: ids in lower-case hex
// (not protojson's base64), 64-bit integers as decimal strings, enums as
// numbers, lowerCamelCase field names. pgveil's own file exporter writes the
// same lines, so the auditors' queries (README.md) work on both.

type jsonTraces struct {
	ResourceSpans []jsonResourceSpans `json:"resourceSpans"`
}

type jsonResourceSpans struct {
	Resource   jsonResource     `json:"resource"`
	ScopeSpans []jsonScopeSpans `json:"scopeSpans"`
	SchemaURL  string           `json:"schemaUrl,omitempty"`
}

type jsonResource struct {
	Attributes []jsonKV `json:"attributes,omitempty"`
}

type jsonScopeSpans struct {
	Scope     jsonScope  `json:"scope"`
	Spans     []jsonSpan `json:"spans"`
	SchemaURL string     `json:"schemaUrl,omitempty"`
}

type jsonScope struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

type jsonSpan struct {
	TraceID                string      `json:"traceId"`
	SpanID                 string      `json:"spanId"`
	TraceState             string      `json:"traceState,omitempty"`
	ParentSpanID           string      `json:"parentSpanId,omitempty"`
	Flags                  uint32      `json:"flags,omitempty"`
	Name                   string      `json:"name"`
	Kind                   int32       `json:"kind,omitempty"`
	StartTimeUnixNano      string      `json:"startTimeUnixNano"`
	EndTimeUnixNano        string      `json:"endTimeUnixNano"`
	Attributes             []jsonKV    `json:"attributes,omitempty"`
	DroppedAttributesCount uint32      `json:"droppedAttributesCount,omitempty"`
	Events                 []jsonEvent `json:"events,omitempty"`
	Links                  []jsonLink  `json:"links,omitempty"`
	Status                 jsonStatus  `json:"status"`
}

type jsonEvent struct {
	TimeUnixNano string   `json:"timeUnixNano"`
	Name         string   `json:"name"`
	Attributes   []jsonKV `json:"attributes,omitempty"`
}

type jsonLink struct {
	TraceID    string   `json:"traceId"`
	SpanID     string   `json:"spanId"`
	Attributes []jsonKV `json:"attributes,omitempty"`
}

type jsonStatus struct {
	Message string `json:"message,omitempty"`
	Code    int32  `json:"code,omitempty"`
}

type jsonKV struct {
	Key   string    `json:"key"`
	Value jsonValue `json:"value"`
}

type jsonValue struct {
	StringValue *string     `json:"stringValue,omitempty"`
	BoolValue   *bool       `json:"boolValue,omitempty"`
	IntValue    *string     `json:"intValue,omitempty"`
	DoubleValue *float64    `json:"doubleValue,omitempty"`
	BytesValue  []byte      `json:"bytesValue,omitempty"` // base64, as OTLP/JSON says
	ArrayValue  *jsonArray  `json:"arrayValue,omitempty"`
	KvlistValue *jsonKVList `json:"kvlistValue,omitempty"`
}

type jsonArray struct {
	Values []jsonValue `json:"values"`
}

type jsonKVList struct {
	Values []jsonKV `json:"values"`
}

// appendOTLPJSON appends one line: rss as an OTLP/JSON
// ExportTraceServiceRequest, then '\n'.
func appendOTLPJSON(dst []byte, rss []*tracepb.ResourceSpans) ([]byte, error) {
	out := jsonTraces{ResourceSpans: make([]jsonResourceSpans, 0, len(rss))}
	for _, rs := range rss {
		jrs := jsonResourceSpans{
			Resource:  jsonResource{Attributes: jsonKVs(rs.GetResource().GetAttributes())},
			SchemaURL: rs.GetSchemaUrl(),
		}
		for _, ss := range rs.GetScopeSpans() {
			jss := jsonScopeSpans{
				Scope:     jsonScope{Name: ss.GetScope().GetName(), Version: ss.GetScope().GetVersion()},
				SchemaURL: ss.GetSchemaUrl(),
				Spans:     make([]jsonSpan, 0, len(ss.GetSpans())),
			}
			for _, s := range ss.GetSpans() {
				jss.Spans = append(jss.Spans, jsonSpanOf(s))
			}
			jrs.ScopeSpans = append(jrs.ScopeSpans, jss)
		}
		out.ResourceSpans = append(out.ResourceSpans, jrs)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return dst, err
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}

func jsonSpanOf(s *tracepb.Span) jsonSpan {
	js := jsonSpan{
		TraceID:                hex.EncodeToString(s.GetTraceId()),
		SpanID:                 hex.EncodeToString(s.GetSpanId()),
		TraceState:             s.GetTraceState(),
		ParentSpanID:           hex.EncodeToString(s.GetParentSpanId()),
		Flags:                  s.GetFlags(),
		Name:                   s.GetName(),
		Kind:                   int32(s.GetKind()),
		StartTimeUnixNano:      strconv.FormatUint(s.GetStartTimeUnixNano(), 10),
		EndTimeUnixNano:        strconv.FormatUint(s.GetEndTimeUnixNano(), 10),
		Attributes:             jsonKVs(s.GetAttributes()),
		DroppedAttributesCount: s.GetDroppedAttributesCount(),
		Status:                 jsonStatus{Message: s.GetStatus().GetMessage(), Code: int32(s.GetStatus().GetCode())},
	}
	for _, e := range s.GetEvents() {
		js.Events = append(js.Events, jsonEvent{
			TimeUnixNano: strconv.FormatUint(e.GetTimeUnixNano(), 10),
			Name:         e.GetName(),
			Attributes:   jsonKVs(e.GetAttributes()),
		})
	}
	for _, l := range s.GetLinks() {
		js.Links = append(js.Links, jsonLink{
			TraceID:    hex.EncodeToString(l.GetTraceId()),
			SpanID:     hex.EncodeToString(l.GetSpanId()),
			Attributes: jsonKVs(l.GetAttributes()),
		})
	}
	return js
}

func jsonKVs(kvs []*commonpb.KeyValue) []jsonKV {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]jsonKV, len(kvs))
	for i, kv := range kvs {
		out[i] = jsonKV{Key: kv.GetKey(), Value: jsonValueOf(kv.GetValue())}
	}
	return out
}

func jsonValueOf(v *commonpb.AnyValue) jsonValue {
	var jv jsonValue
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		jv.StringValue = &x.StringValue
	case *commonpb.AnyValue_BoolValue:
		jv.BoolValue = &x.BoolValue
	case *commonpb.AnyValue_IntValue:
		s := strconv.FormatInt(x.IntValue, 10)
		jv.IntValue = &s
	case *commonpb.AnyValue_DoubleValue:
		jv.DoubleValue = &x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		jv.BytesValue = x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		arr := &jsonArray{Values: make([]jsonValue, 0, len(x.ArrayValue.GetValues()))}
		for _, e := range x.ArrayValue.GetValues() {
			arr.Values = append(arr.Values, jsonValueOf(e))
		}
		jv.ArrayValue = arr
	case *commonpb.AnyValue_KvlistValue:
		jv.KvlistValue = &jsonKVList{Values: jsonKVs(x.KvlistValue.GetValues())}
	}
	return jv
}
