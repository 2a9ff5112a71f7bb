package audit

import "go.opentelemetry.io/otel/trace"

// parseTraceParent parses a W3C Trace Context traceparent header value
// (https://www.w3.org/TR/trace-context/#traceparent-header):
//
//	version "-" trace-id "-" parent-id "-" trace-flags
//	00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//
// It follows the spec's parsing rules: lower-case hex only, version ff is
// invalid, all-zero trace and parent ids are invalid, version 00 has exactly
// these four fields and a later version may append "-..." fields, which are
// ignored. It does not allocate.
func parseTraceParent(s string) (trace.SpanContext, bool) {
	const n = 55 // 2+1+32+1+16+1+2
	if len(s) < n || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return trace.SpanContext{}, false
	}
	var version [1]byte
	if !decodeHex(version[:], s[0:2]) || version[0] == 0xff {
		return trace.SpanContext{}, false
	}
	if len(s) > n && (version[0] == 0 || s[n] != '-') {
		return trace.SpanContext{}, false
	}
	var tid trace.TraceID
	var sid trace.SpanID
	var flags [1]byte
	if !decodeHex(tid[:], s[3:35]) || !decodeHex(sid[:], s[36:52]) || !decodeHex(flags[:], s[53:55]) {
		return trace.SpanContext{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: trace.TraceFlags(flags[0]) & trace.FlagsSampled,
		Remote:     true,
	})
	return sc, sc.IsValid()
}

// decodeHex decodes len(dst)*2 lower-case hex digits from s.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := hexDigit(s[2*i])
		lo, ok2 := hexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
