package audit

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// This file turns SDK spans into OTLP protobuf messages. The export pipeline
// works on OTLP messages rather than on SDK spans because the spool stores
// them (proto bytes survive a restart; SDK spans do not) and the OTLP
// clients upload them as they are.

// OTLP span flags (opentelemetry-proto trace.proto, SpanFlags).
const (
	flagContextHasIsRemote = 0x100
	flagContextIsRemote    = 0x200
)

// spanToProto converts one ended span. Resource and scope are not included:
// every span of the pipeline comes from one provider and one tracer, and
// batch wraps them once.
func spanToProto(s sdktrace.ReadOnlySpan) *tracepb.Span {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	ps := &tracepb.Span{
		TraceId:                tid[:],
		SpanId:                 sid[:],
		TraceState:             sc.TraceState().String(),
		Name:                   s.Name(),
		Kind:                   tracepb.Span_SpanKind(s.SpanKind()), // trace.SpanKind numbers kinds as OTLP does
		StartTimeUnixNano:      unixNano(s.StartTime().UnixNano()),
		EndTimeUnixNano:        unixNano(s.EndTime().UnixNano()),
		Attributes:             attrsToProto(s.Attributes()),
		DroppedAttributesCount: uint32(s.DroppedAttributes()),
		DroppedEventsCount:     uint32(s.DroppedEvents()),
		DroppedLinksCount:      uint32(s.DroppedLinks()),
		Flags:                  uint32(sc.TraceFlags()) | flagContextHasIsRemote,
	}
	if p := s.Parent(); p.SpanID().IsValid() {
		psid := p.SpanID()
		ps.ParentSpanId = psid[:]
		if p.IsRemote() {
			ps.Flags |= flagContextIsRemote
		}
	}
	switch st := s.Status(); st.Code {
	case codes.Error:
		ps.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: st.Description}
	case codes.Ok:
		ps.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK}
	}
	for _, e := range s.Events() {
		ps.Events = append(ps.Events, &tracepb.Span_Event{
			TimeUnixNano:           unixNano(e.Time.UnixNano()),
			Name:                   e.Name,
			Attributes:             attrsToProto(e.Attributes),
			DroppedAttributesCount: uint32(e.DroppedAttributeCount),
		})
	}
	for _, l := range s.Links() {
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		ps.Links = append(ps.Links, &tracepb.Span_Link{
			TraceId:                ltid[:],
			SpanId:                 lsid[:],
			TraceState:             l.SpanContext.TraceState().String(),
			Attributes:             attrsToProto(l.Attributes),
			DroppedAttributesCount: uint32(l.DroppedAttributeCount),
			Flags:                  uint32(l.SpanContext.TraceFlags()),
		})
	}
	return ps
}

func unixNano(n int64) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// attrsToProto converts attributes. The messages of one call are
// allocated together (one slice per message type, not one allocation per
// attribute): a span has some 35 attributes and this runs once per span.
func attrsToProto(kvs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, len(kvs))
	kvMsgs := make([]commonpb.KeyValue, len(kvs))
	anys := make([]commonpb.AnyValue, len(kvs))
	var strs []commonpb.AnyValue_StringValue
	for i, kv := range kvs {
		m := &kvMsgs[i]
		m.Key = string(kv.Key)
		if kv.Value.Type() == attribute.STRING {
			if strs == nil {
				strs = make([]commonpb.AnyValue_StringValue, 0, len(kvs))
			}
			strs = append(strs, commonpb.AnyValue_StringValue{StringValue: kv.Value.AsString()})
			anys[i].Value = &strs[len(strs)-1]
			m.Value = &anys[i]
		} else {
			m.Value = valueToProto(kv.Value)
		}
		out[i] = m
	}
	return out
}

func valueToProto(v attribute.Value) *commonpb.AnyValue {
	switch v.Type() {
	case attribute.BOOL:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}}
	case attribute.INT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}}
	case attribute.FLOAT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}}
	case attribute.STRING:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v.AsString()}}
	case attribute.BYTESLICE:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: v.AsByteSlice()}}
	case attribute.BOOLSLICE:
		return arrayValue(v.AsBoolSlice(), func(b bool) *commonpb.AnyValue {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
		})
	case attribute.INT64SLICE:
		return arrayValue(v.AsInt64Slice(), func(i int64) *commonpb.AnyValue {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
		})
	case attribute.FLOAT64SLICE:
		return arrayValue(v.AsFloat64Slice(), func(f float64) *commonpb.AnyValue {
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
		})
	case attribute.STRINGSLICE:
		ss := v.AsStringSlice()
		anys := make([]commonpb.AnyValue, len(ss))
		strs := make([]commonpb.AnyValue_StringValue, len(ss))
		arr := &commonpb.ArrayValue{Values: make([]*commonpb.AnyValue, len(ss))}
		for i, s := range ss {
			strs[i].StringValue = s
			anys[i].Value = &strs[i]
			arr.Values[i] = &anys[i]
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: arr}}
	case attribute.SLICE:
		return arrayValue(v.AsSlice(), valueToProto)
	case attribute.MAP:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: attrsToProto(v.AsMap())}}}
	}
	return &commonpb.AnyValue{}
}

func arrayValue[T any](vs []T, conv func(T) *commonpb.AnyValue) *commonpb.AnyValue {
	arr := &commonpb.ArrayValue{Values: make([]*commonpb.AnyValue, len(vs))}
	for i, x := range vs {
		arr.Values[i] = conv(x)
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: arr}}
}

func resourceToProto(r *sdkresource.Resource) *resourcepb.Resource {
	if r == nil {
		return &resourcepb.Resource{}
	}
	return &resourcepb.Resource{Attributes: attrsToProto(r.Attributes())}
}

// envelope is the fixed resource and scope every batch is wrapped in.
type envelope struct {
	resource       *resourcepb.Resource
	resourceSchema string
	scope          *commonpb.InstrumentationScope
	scopeSchema    string
}

func newEnvelope(r *sdkresource.Resource, scopeSchema string) envelope {
	e := envelope{
		resource:    resourceToProto(r),
		scope:       &commonpb.InstrumentationScope{Name: ScopeName},
		scopeSchema: scopeSchema,
	}
	if r != nil {
		e.resourceSchema = r.SchemaURL()
	}
	return e
}

// wrap builds the ResourceSpans of one upload or spool record.
func (e envelope) wrap(spans []*tracepb.Span) []*tracepb.ResourceSpans {
	return []*tracepb.ResourceSpans{{
		Resource:  e.resource,
		SchemaUrl: e.resourceSchema,
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope:     e.scope,
			SchemaUrl: e.scopeSchema,
			Spans:     spans,
		}},
	}}
}

// flattenSpans returns the spans of resource spans, in order.
func flattenSpans(rss []*tracepb.ResourceSpans) []*tracepb.Span {
	var out []*tracepb.Span
	for _, rs := range rss {
		for _, ss := range rs.GetScopeSpans() {
			out = append(out, ss.GetSpans()...)
		}
	}
	return out
}
