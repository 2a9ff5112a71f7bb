package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// SQLSTATE codes pgveil itself answers with.
// https://www.postgresql.org/docs/current/errcodes-appendix.html
const (
	codeProtocolViolation   = "08P01"
	codeConnectionFailure   = "08006"
	codeCannotConnect       = "08001"
	codeInvalidAuthSpec     = "28000"
	codeInsufficientPriv    = "42501"
	codeTooManyConnections  = "53300"
	codeAdminShutdown       = "57P01"
	codeFeatureNotSupported = "0A000"
	codeIdleTimeout         = "57P05" // idle_session_timeout
	codeInternalError       = "XX000"
	codeQueryCanceled       = "57014"
)

// ProtocolError is an error pgveil reports to a client as an ErrorResponse.
// Msg is what the client sees; it never holds data values or policy
// internals. Err, if set, is the underlying cause for logs.
type ProtocolError struct {
	Code  string // SQLSTATE
	Msg   string
	Hint  string
	Fatal bool // FATAL severity: the session ends after it
	Err   error
}

func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// SQLState returns the SQLSTATE code, in the style of pgconn.PgError.
func (e *ProtocolError) SQLState() string { return e.Code }

// appendErrorResponse encodes an ErrorResponse ('E') for e. This is the one
// place where pgveil's errors become wire messages.
func appendErrorResponse(dst []byte, e *ProtocolError) []byte {
	sev := "ERROR"
	if e.Fatal {
		sev = "FATAL"
	}
	return appendNoticeFields(dst, 'E', sev, e.Code, e.Msg, e.Hint)
}

func appendNoticeFields(dst []byte, typ byte, sev, code, msg, hint string) []byte {
	start := len(dst)
	dst = append(dst, typ, 0, 0, 0, 0)
	dst = append(dst, 'S')
	dst = append(dst, sev...)
	dst = append(dst, 0, 'V')
	dst = append(dst, sev...)
	dst = append(dst, 0, 'C')
	dst = append(dst, code...)
	dst = append(dst, 0, 'M')
	dst = append(dst, msg...)
	dst = append(dst, 0)
	if hint != "" {
		dst = append(dst, 'H')
		dst = append(dst, hint...)
		dst = append(dst, 0)
	}
	dst = append(dst, 0)
	putLen(dst[start+1:], len(dst)-start-1)
	return dst
}

func putLen(b []byte, n int) {
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

// isClosed reports whether err only says that a peer went away or that the
// session was shut down, which is not worth more than a debug log line.
func isClosed(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrDeadlineExceeded)
}
