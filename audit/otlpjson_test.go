package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// The reflection-based encoder the direct one replaced, kept as the
// reference: both must write the same bytes.

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

// appendOTLPJSONReflect appends one line: rss as an OTLP/JSON
// ExportTraceServiceRequest, then '\n'.
func appendOTLPJSONReflect(dst []byte, rss []*tracepb.ResourceSpans) ([]byte, error) {
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

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func TestAppendOTLPJSONMatchesEncodingJSON(t *testing.T) {
	odd := []string{"", "plain", "quote\" back\\slash", "<tag> & amp", "ctl\x00\x01\x1f\n\r\t\b\f", "bad\xff\xfeutf8",
		"line\u2028sep\u2029", "ünïcödé 日本 🙂", "\x7f del"}
	var attrs []*commonpb.KeyValue
	for i, s := range odd {
		attrs = append(attrs, str("k"+strconv.Itoa(i)+s, s))
	}
	for _, f := range []float64{0, 1, -2.5, 1e-7, 3e21, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		attrs = append(attrs, &commonpb.KeyValue{Key: "d", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}})
	}
	attrs = append(attrs,
		&commonpb.KeyValue{Key: "b", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}},
		&commonpb.KeyValue{Key: "i", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: -42}}},
		&commonpb.KeyValue{Key: "by", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 254}}}},
		&commonpb.KeyValue{Key: "arr", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{
			Values: []*commonpb.AnyValue{{Value: &commonpb.AnyValue_StringValue{StringValue: "a"}}, {Value: &commonpb.AnyValue_IntValue{IntValue: 7}}}}}}},
		&commonpb.KeyValue{Key: "kv", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
			Values: []*commonpb.KeyValue{str("x", "y")}}}}},
	)
	tid, _ := hex.DecodeString("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := hex.DecodeString("00f067aa0ba902b7")
	spans := []*tracepb.Span{
		{TraceId: tid, SpanId: sid, Name: "SELECT public.customers", Kind: tracepb.Span_SPAN_KIND_CLIENT,
			StartTimeUnixNano: 1, EndTimeUnixNano: 2, Attributes: attrs, Flags: 769, ParentSpanId: sid, TraceState: "a=b",
			Status: &tracepb.Status{Message: "denied: <x>", Code: tracepb.Status_STATUS_CODE_ERROR}, DroppedAttributesCount: 3,
			Events: []*tracepb.Span_Event{{TimeUnixNano: 5, Name: "e", Attributes: attrs[:2]}},
			Links:  []*tracepb.Span_Link{{TraceId: tid, SpanId: sid, Attributes: attrs[:1]}}},
		{TraceId: tid, SpanId: sid, Name: "", Status: &tracepb.Status{}},
	}
	rss := []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "pgveil")}},
		ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{Name: "s", Version: "1"}, Spans: spans, SchemaUrl: "u"}},
		SchemaUrl:  "https://opentelemetry.io/schemas/1.43.0",
	}, {Resource: &resourcepb.Resource{}, ScopeSpans: []*tracepb.ScopeSpans{{Scope: &commonpb.InstrumentationScope{}}}}}
	want, err := appendOTLPJSONReflect(nil, rss)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendOTLPJSON(nil, rss)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("direct encoder differs:\n got %s\nwant %s", got, want)
	}
	if !json.Valid(bytes.TrimSpace(got)) {
		t.Fatal("invalid JSON")
	}
}

func BenchmarkAppendOTLPJSON(b *testing.B) {
	rss := []*tracepb.ResourceSpans{{Resource: &resourcepb.Resource{}, ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
		Name: "SELECT public.customers", Attributes: []*commonpb.KeyValue{str("db.system.name", "postgresql"), str("db.query.text", "SELECT id, name FROM t WHERE id = $1"),
			str("pgveil.identity.user", "analyst"), str("pgveil.decision", "allow")}}}}}}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendOTLPJSON(buf[:0], rss)
	}
}
