package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Startup-phase packets have no type byte: a 4-byte length (including
// itself) and a 4-byte code.
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	codeCancelRequest = 80877102
	protocol30        = 3 << 16
	protocol32        = 3<<16 | 2

	// maxStartupPacket is Postgres's MAX_STARTUP_PACKET_LENGTH.
	maxStartupPacket = 10000

	// tlsRecordHandshake is the first byte of a TLS ClientHello: clients
	// using sslnegotiation=direct (PostgreSQL 17+) start TLS right away.
	tlsRecordHandshake = 0x16
)

// startupPacket is one packet of the startup phase.
type startupPacket struct {
	code uint32
	// raw is the whole packet including the length; it is forwarded as is.
	raw []byte
}

var errStartupTooLarge = errors.New("startup packet too large")

// readStartupPacket reads exactly one startup packet and nothing more: the
// bytes after an SSLRequest belong to the TLS handshake.
func readStartupPacket(r io.Reader) (startupPacket, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return startupPacket{}, err
	}
	l := binary.BigEndian.Uint32(hdr[:4])
	if l < 8 {
		return startupPacket{}, errBadLength
	}
	if l > maxStartupPacket {
		return startupPacket{}, errStartupTooLarge
	}
	raw := make([]byte, l)
	copy(raw, hdr[:])
	if _, err := io.ReadFull(r, raw[8:]); err != nil {
		return startupPacket{}, noEOF(err)
	}
	return startupPacket{code: binary.BigEndian.Uint32(hdr[4:]), raw: raw}, nil
}

// startupParams decodes the parameters of a StartupMessage (protocol 3.x).
// It returns an error for anything but a list of NUL-terminated name/value
// pairs ended by an extra NUL.
func startupParams(raw []byte) (map[string]string, error) {
	if len(raw) < 9 {
		return nil, errBadLength
	}
	b := raw[8:]
	if b[len(b)-1] != 0 {
		return nil, errors.New("startup message not terminated")
	}
	b = b[:len(b)-1]
	params := make(map[string]string)
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i <= 0 {
			return nil, errors.New("malformed startup parameter name")
		}
		name := string(b[:i])
		b = b[i+1:]
		j := bytes.IndexByte(b, 0)
		if j < 0 {
			return nil, errors.New("malformed startup parameter value")
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("duplicate startup parameter")
		}
		params[name] = string(b[:j])
		b = b[j+1:]
	}
	if params["user"] == "" {
		return nil, errors.New("no user name in startup message")
	}
	return params, nil
}

// cancelKey decodes a CancelRequest. Protocol 3.2 allows secrets up to 256
// bytes; 3.0 uses 4.
func cancelKey(raw []byte) (pid uint32, secret []byte, err error) {
	if len(raw) < 16 || len(raw) > 8+4+256 {
		return 0, nil, errors.New("malformed cancel request")
	}
	return binary.BigEndian.Uint32(raw[8:]), raw[12:], nil
}

// SASL mechanism names.
const (
	mechSCRAM     = "SCRAM-SHA-256"
	mechSCRAMPlus = "SCRAM-SHA-256-PLUS"
)

// filterSASLMechanisms removes SCRAM-SHA-256-PLUS from an
// AuthenticationSASL body (int32 10, then NUL-terminated names, then NUL).
// Channel binding ties the SCRAM exchange to the TLS session the client sees,
// and pgveil terminates that session, so a client that chose PLUS could never
// authenticate: it would only get a confusing failure from Postgres.
func filterSASLMechanisms(body []byte) ([]byte, []string, error) {
	if len(body) < 5 {
		return nil, nil, errBadLength
	}
	out := make([]byte, 4, len(body))
	copy(out, body[:4])
	var mechs []string
	b := body[4:]
	for len(b) > 0 && b[0] != 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return nil, nil, errors.New("malformed SASL mechanism list")
		}
		name := string(b[:i])
		b = b[i+1:]
		mechs = append(mechs, name)
		if name == mechSCRAMPlus {
			continue
		}
		out = append(out, name...)
		out = append(out, 0)
	}
	out = append(out, 0)
	return out, mechs, nil
}

// saslInitial decodes a SASLInitialResponse body: mechanism name, int32
// length (-1 for none), data.
func saslInitial(body []byte) (mech string, data []byte, err error) {
	i := bytes.IndexByte(body, 0)
	if i < 0 || len(body) < i+5 {
		return "", nil, errors.New("malformed SASLInitialResponse")
	}
	mech = string(body[:i])
	n := int32(binary.BigEndian.Uint32(body[i+1:]))
	rest := body[i+5:]
	if n == -1 {
		return mech, nil, nil
	}
	if n < 0 || int(n) != len(rest) {
		return "", nil, errors.New("malformed SASLInitialResponse")
	}
	return mech, rest, nil
}
