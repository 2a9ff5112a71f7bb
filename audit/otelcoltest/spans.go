package otelcoltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

// Value is an OTLP/JSON AnyValue as the collector's file exporter writes
// it: intValue is a decimal string.
type Value struct {
	StringValue *string  `json:"stringValue"`
	IntValue    *string  `json:"intValue"`
	BoolValue   *bool    `json:"boolValue"`
	DoubleValue *float64 `json:"doubleValue"`
	ArrayValue  *struct {
		Values []Value `json:"values"`
	} `json:"arrayValue"`
}

// KeyValue is one attribute.
type KeyValue struct {
	Key   string `json:"key"`
	Value Value  `json:"value"`
}

// Status is a span's status; Code is 0 unset, 1 ok, 2 error (OTLP).
type Status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Span is one span read back, with its resource and scope.
type Span struct {
	TraceID           string     `json:"traceId"`
	SpanID            string     `json:"spanId"`
	ParentSpanID      string     `json:"parentSpanId"`
	Flags             uint32     `json:"flags"`
	Name              string     `json:"name"`
	Kind              int        `json:"kind"`
	StartTimeUnixNano string     `json:"startTimeUnixNano"`
	EndTimeUnixNano   string     `json:"endTimeUnixNano"`
	Attributes        []KeyValue `json:"attributes"`
	Status            Status     `json:"status"`

	// Resource and Scope are filled from the enclosing resourceSpans and
	// scopeSpans.
	Resource []KeyValue `json:"-"`
	Scope    string     `json:"-"`
}

type line struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []KeyValue `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Scope struct {
				Name string `json:"name"`
			} `json:"scope"`
			Spans []Span `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

// ReadSpans returns every span in a JSON-lines file of OTLP/JSON
// ExportTraceServiceRequests (the collector's file exporter, or pgveil's
// own "file" exporter), flattening resourceSpans/scopeSpans/spans, in file
// order. A last line without its '\n' may still be being written and is
// left for the next read.
func ReadSpans(path string) ([]Span, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var spans []Span
	for i, ln := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(ln)) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(ln, &l); err != nil {
			return spans, fmt.Errorf("otelcoltest: %s line %d: %w", path, i+1, err)
		}
		for _, rs := range l.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					s.Resource = rs.Resource.Attributes
					s.Scope = ss.Scope.Name
					spans = append(spans, s)
				}
			}
		}
	}
	return spans, nil
}

// Attr returns the attribute named key.
func (s Span) Attr(key string) (Value, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return Value{}, false
}

// Str returns a string attribute ("" if absent).
func (s Span) Str(key string) string {
	v, _ := s.Attr(key)
	if v.StringValue == nil {
		return ""
	}
	return *v.StringValue
}

// Int returns an integer attribute.
func (s Span) Int(key string) (int64, bool) {
	v, ok := s.Attr(key)
	if !ok || v.IntValue == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(*v.IntValue, 10, 64)
	return n, err == nil
}

// Bool returns a boolean attribute.
func (s Span) Bool(key string) (value, ok bool) {
	v, found := s.Attr(key)
	if !found || v.BoolValue == nil {
		return false, false
	}
	return *v.BoolValue, true
}

// Strings returns a string-array attribute.
func (s Span) Strings(key string) []string {
	v, ok := s.Attr(key)
	if !ok || v.ArrayValue == nil {
		return nil
	}
	out := make([]string, 0, len(v.ArrayValue.Values))
	for _, e := range v.ArrayValue.Values {
		if e.StringValue != nil {
			out = append(out, *e.StringValue)
		}
	}
	return out
}

// Texts returns every string value in the span: name, status message and
// every attribute value (array elements and integers included; not the
// keys), for leak checks.
func (s Span) Texts() []string {
	out := []string{s.Name, s.Status.Message}
	var walk func(v Value)
	walk = func(v Value) {
		if v.StringValue != nil {
			out = append(out, *v.StringValue)
		}
		if v.IntValue != nil {
			out = append(out, *v.IntValue)
		}
		if v.ArrayValue != nil {
			for _, e := range v.ArrayValue.Values {
				walk(e)
			}
		}
	}
	for _, kv := range s.Attributes {
		walk(kv.Value)
	}
	return out
}
