package proxy

import (
	"strings"

	"github.com/pgveil/pgveil/rules"
)

// Errors, notices and notifications can echo data values: "invalid input
// syntax for type integer: "alice@example.com"", a unique violation's DETAIL
// "Key (email)=(...) already exists", CONTEXT lines with function arguments,
// RAISE NOTICE from triggers, NOTIFY payloads built from rows. For an
// identity that has masks, pgveil rewrites them before they leave:
//
//   - DETAIL, CONTEXT (WHERE) and INTERNAL QUERY are dropped;
//   - the message of a data exception (class 22), an integrity violation
//     (class 23) or anything raised by user code (RAISE: class P0, or the
//     plpgsql raise routine) is replaced by a generic one that keeps the
//     SQLSTATE, so the client can still react to it; other messages have
//     quoted values replaced and structured identifiers scrubbed;
//   - HINT is scrubbed;
//   - notification payloads are replaced by an empty string.
//
// The SQLSTATE, severity, position and the schema/table/column/constraint
// name fields are kept: they carry names, not values.

// scrubFor reports whether errors and notices during ex must be scrubbed.
func (ss *session) scrubFor(ex *execution) bool {
	if ex != nil && ex.d != nil {
		return !ex.d.revealAll
	}
	return ss.scrubAsync
}

// appendNotice forwards an ErrorResponse or NoticeResponse, scrubbed when
// scrub is set.
func (ss *session) appendNotice(typ byte, body []byte, scrub bool) {
	if !scrub {
		ss.cw.appendFrame(typ, body)
		return
	}
	ss.cw.buf = appendScrubbedNotice(ss.cw.buf, typ, body)
}

func appendScrubbedNotice(dst []byte, typ byte, body []byte) []byte {
	code := errorField(body, 'C')
	routine := errorField(body, 'R')
	generic := strings.HasPrefix(code, "22") || strings.HasPrefix(code, "23") ||
		strings.HasPrefix(code, "P0") || routine == "exec_stmt_raise"
	start := len(dst)
	dst = append(dst, typ, 0, 0, 0, 0)
	for len(body) > 1 && body[0] != 0 {
		f := body[0]
		v, rest, ok := cstringNext(body[1:])
		if !ok {
			break
		}
		body = rest
		switch f {
		case 'D', 'W', 'q', 'p':
			continue
		case 'M':
			dst = append(dst, 'M')
			if generic {
				dst = append(dst, genericMessage(code)...)
			} else {
				dst = rules.AppendScrub(dst, []byte(quotedValues(v)))
			}
			dst = append(dst, 0)
		case 'H':
			dst = append(dst, 'H')
			dst = rules.AppendScrub(dst, []byte(quotedValues(v)))
			dst = append(dst, 0)
		case 'S', 'V', 'C', 'P', 'F', 'L', 'R', 's', 't', 'c', 'd', 'n':
			dst = append(dst, f)
			dst = append(dst, v...)
			dst = append(dst, 0)
		}
	}
	dst = append(dst, 0)
	putLen(dst[start+1:], len(dst)-start-1)
	return dst
}

func genericMessage(code string) string {
	switch {
	case strings.HasPrefix(code, "22"):
		return "invalid data value (details hidden by pgveil: they may contain personal data)"
	case strings.HasPrefix(code, "23"):
		return "integrity constraint violation (details hidden by pgveil: they may contain personal data)"
	}
	return "message from database code (hidden by pgveil: it may contain personal data)"
}

// quotedValues replaces the contents of double-quoted spans, where
// Postgres puts input values in its messages. Identifiers are quoted the
// same way; for identities with masks, losing them is the price of never
// echoing a value.
func quotedValues(s string) string {
	if !strings.Contains(s, "\"") {
		return s
	}
	var b strings.Builder
	in := false
	for _, r := range s {
		if r == '"' {
			if in {
				b.WriteString("…")
			}
			in = !in
			b.WriteRune(r)
			continue
		}
		if !in {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// appendNotification forwards a NotificationResponse, with its payload
// removed for identities with masks.
func (ss *session) appendNotification(body []byte) {
	if !ss.scrubAsync || len(body) < 4 {
		ss.cw.appendFrame('A', body)
		return
	}
	channel, _, ok := cstringNext(body[4:])
	if !ok {
		ss.cw.appendFrame('A', body)
		return
	}
	dst := ss.cw.buf
	start := len(dst)
	dst = append(dst, 'A', 0, 0, 0, 0)
	dst = append(dst, body[:4]...)
	dst = append(dst, channel...)
	dst = append(dst, 0, 0)
	putLen(dst[start+1:], len(dst)-start-1)
	ss.cw.buf = dst
}
