package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pgveil/pgveil/rules"
)

// maxAuthMessage bounds client messages during authentication, as Postgres
// does (PG_MAX_AUTH_TOKEN_LENGTH).
const maxAuthMessage = 65535

// session is one client connection and its upstream connection.
//
// Lifetime: the server's connection goroutine runs serve, which does the
// startup phase alone, then starts the server-to-client relay in a second
// goroutine and runs the client-to-server relay itself. Whichever relay ends
// first closes both connections (kill), which unblocks the other; serve
// returns only after both relays have returned. Cancelling the server's
// context also kills the session.
type session struct {
	srv *Server
	cfg *Config
	log *slog.Logger

	client net.Conn // *tls.Conn after an SSLRequest was accepted
	up     net.Conn

	proxyPID    uint32
	proxySecret [4]byte

	// keyMu guards up (set once after the dial, read by drain and kill)
	// and the upstream's cancel key.
	keyMu    sync.Mutex
	upPID    uint32
	upSecret []byte

	id rules.Identity

	cr *frameReader // client -> proxy; owned by the client relay after startup
	uw *frameWriter // proxy -> upstream; owned by the client relay
	ur *frameReader // upstream -> proxy; owned by the server relay
	cw *frameWriter // proxy -> client; owned by the server relay

	// clientMu serialises writes to the client socket between the server
	// relay (every flush) and the client relay (its rare error replies).
	clientMu sync.Mutex

	// inflight counts Query, Sync and FunctionCall messages forwarded whose
	// ReadyForQuery has not come back yet.
	inflight atomic.Int32
	draining atomic.Bool
	killOnce sync.Once

	// fatalSent records that the client was told why the session ends.
	fatalSent atomic.Bool

	// closes are the removals of prepared statements, portals and cursors
	// that Postgres confirmed (CloseComplete, CommandComplete of DEALLOCATE,
	// CLOSE, DISCARD), appended by the server relay and applied by the
	// client relay (applyCloses); closesN counts them for a cheap check.
	// idleReadyN is the number (s2cState.readyN) of the last ReadyForQuery
	// that found the session outside a transaction, idleReadyAt when it
	// came; set by the server relay, read by schemaFreshness.
	idleReadyN  atomic.Int64
	idleReadyAt atomic.Int64

	// copyUnstarted counts COPY FROM STDIN statements that ended without
	// entering copy-in mode (s2c), for inspector.copyIn (c2s).
	copyUnstarted atomic.Int64

	closesMu sync.Mutex
	closes   []closeEvent
	closesN  atomic.Int32

	// encodingUnsafe: the server reported a client_encoding whose
	// characters can contain ASCII bytes (asciiUnsafeEncodings). Written by
	// the server relay before the ReadyForQuery that follows the report
	// (which decrements inflight), read by the client relay
	// (encodingHazard).
	encodingUnsafe atomic.Bool

	// Inspecting sessions (Config.Decider set) only:
	in         *inspector   // client relay's maps
	pend       chan pending // expected responses, client relay -> server relay
	s2c        s2cState     // server relay's state
	scrubAsync bool         // scrub notices and notifications outside statements
}

func (s *Server) handle(ctx context.Context, conn net.Conn) {
	// Go enables TCP_NODELAY on TCP connections by default.
	ss := &session{srv: s, cfg: &s.cfg, log: s.cfg.Logger, client: newRawTCP(conn)}
	ss.serve(ctx)
}

func (ss *session) serve(ctx context.Context) {
	defer ss.client.Close()
	stop := context.AfterFunc(ctx, ss.kill)
	defer stop()

	start := time.Now()
	ss.client.SetDeadline(start.Add(ss.cfg.StartupTimeout))
	startupRaw, params, err := ss.negotiate(ctx)
	if err != nil {
		ss.startupFailed(err)
		return
	}
	if ss.srv.active.Add(1) > int64(ss.cfg.MaxConnections) {
		ss.srv.active.Add(-1)
		ss.srv.stats.refused.Add(1)
		ss.replyFatal(&ProtocolError{Code: codeTooManyConnections, Msg: "sorry, too many clients already", Fatal: true})
		return
	}
	defer ss.srv.active.Add(-1)
	if err := ss.srv.register(ss); err != nil {
		ss.srv.stats.refused.Add(1)
		ss.replyFatal(&ProtocolError{Code: codeAdminShutdown, Msg: "pgveil is shutting down", Fatal: true})
		return
	}
	defer ss.srv.unregister(ss)

	ss.id = rules.Identity{
		// Postgres cuts names to NAMEDATALEN-1 bytes: the role and
		// database it authenticates are those, whatever follows.
		User:            truncName(params["user"]),
		Database:        truncName(params["database"]),
		ApplicationName: params["application_name"],
		ClientAddr:      hostOf(ss.client.RemoteAddr()),
	}
	if ss.id.Database == "" {
		ss.id.Database = ss.id.User
	}
	if tc, ok := ss.client.(*tls.Conn); ok {
		st := tc.ConnectionState()
		ss.id.TLS.Enabled = true
		if len(st.VerifiedChains) > 0 && len(st.PeerCertificates) > 0 {
			ss.id.TLS.Subject = st.PeerCertificates[0].Subject.String()
		}
	}
	ss.log = ss.log.With("session", ss.proxyPID)

	dctx, cancel := context.WithDeadline(ctx, start.Add(ss.cfg.StartupTimeout))
	up, err := ss.srv.dialUpstream(dctx)
	cancel()
	if err != nil {
		ss.log.Warn("upstream unavailable", "err", err)
		ss.replyFatal(&ProtocolError{Code: codeCannotConnect, Msg: "pgveil could not connect to the database server", Fatal: true})
		return
	}
	ss.keyMu.Lock()
	ss.up = up
	ss.keyMu.Unlock()
	defer ss.kill()
	ss.up.SetDeadline(start.Add(ss.cfg.StartupTimeout))

	ss.cr = newFrameReader(ss.client, 0, maxAuthMessage)
	ss.cw = newFrameWriter(ss.client, ss.cfg.FlushThreshold)
	ss.ur = newFrameReader(ss.up, 0, ss.cfg.MaxMessageBytes)
	ss.uw = newFrameWriter(ss.up, ss.cfg.FlushThreshold)
	// Postgres waits for the next statement after ReadyForQuery. Clients
	// get no quiet message type: one may half-close its socket after a
	// query and keep reading the answer, and its FIN must not go unseen.
	ss.ur.quietAfter = "Z"
	defer ss.cr.release()
	defer ss.ur.release()

	ss.uw.appendRaw(startupRaw)
	if err := ss.uw.flush(); err != nil {
		ss.log.Warn("upstream write failed during startup", "err", err)
		ss.replyFatal(&ProtocolError{Code: codeConnectionFailure, Msg: "pgveil lost the connection to the database server", Fatal: true})
		return
	}
	if err := ss.authenticate(); err != nil {
		ss.startupFailed(err)
		return
	}
	if err := ss.finishStartup(); err != nil {
		ss.startupFailed(err)
		return
	}
	if ss.cfg.Decider != nil {
		if err := ss.admit(ctx); err != nil {
			ss.startupFailed(err)
			return
		}
	}
	ss.cr.maxBody = ss.cfg.MaxMessageBytes
	ss.client.SetDeadline(time.Time{})
	ss.up.SetDeadline(time.Time{})
	ss.srv.stats.sessions.Add(1)
	ss.log.Debug("session started", "user", ss.id.User, "database", ss.id.Database, "client", ss.id.ClientAddr, "tls", ss.id.TLS.Enabled)

	ss.relay(ctx)
}

// negotiate runs the pre-authentication packets: SSLRequest,
// GSSENCRequest, CancelRequest (which ends the connection) and finally the
// StartupMessage, whose raw bytes and parameters it returns.
func (ss *session) negotiate(ctx context.Context) ([]byte, map[string]string, error) {
	var first [1]byte
	if _, err := io.ReadFull(ss.client, first[:]); err != nil {
		return nil, nil, errQuiet{err}
	}
	var prefix []byte
	if first[0] == tlsRecordHandshake {
		// sslnegotiation=direct: a TLS ClientHello without SSLRequest.
		if ss.cfg.TLS == nil {
			return nil, nil, errQuiet{errors.New("direct TLS attempted but TLS is not configured")}
		}
		if err := ss.upgradeTLS(ctx, first[:], true); err != nil {
			return nil, nil, err
		}
	} else {
		prefix = first[:]
	}
	tlsDone := ss.cfg.TLS != nil && prefix == nil
	sslAsked, gssAsked := false, false
	for {
		var r io.Reader = ss.client
		if prefix != nil {
			r = io.MultiReader(bytes.NewReader(prefix), ss.client)
			prefix = nil
		}
		pkt, err := readStartupPacket(r)
		if err != nil {
			if errors.Is(err, errBadLength) || errors.Is(err, errStartupTooLarge) {
				return nil, nil, &ProtocolError{Code: codeProtocolViolation, Msg: "invalid startup packet", Fatal: true, Err: err}
			}
			return nil, nil, errQuiet{err}
		}
		switch pkt.code {
		case codeSSLRequest:
			if tlsDone || sslAsked || len(pkt.raw) != 8 {
				return nil, nil, &ProtocolError{Code: codeProtocolViolation, Msg: "unexpected SSLRequest", Fatal: true}
			}
			sslAsked = true
			if ss.cfg.TLS == nil {
				if _, err := ss.client.Write([]byte{'N'}); err != nil {
					return nil, nil, errQuiet{err}
				}
				continue
			}
			if _, err := ss.client.Write([]byte{'S'}); err != nil {
				return nil, nil, errQuiet{err}
			}
			if err := ss.upgradeTLS(ctx, nil, false); err != nil {
				return nil, nil, err
			}
			tlsDone = true
		case codeGSSENCRequest:
			if gssAsked || tlsDone {
				return nil, nil, &ProtocolError{Code: codeProtocolViolation, Msg: "unexpected GSSENCRequest", Fatal: true}
			}
			gssAsked = true
			if _, err := ss.client.Write([]byte{'N'}); err != nil {
				return nil, nil, errQuiet{err}
			}
		case codeCancelRequest:
			pid, secret, err := cancelKey(pkt.raw)
			if err != nil {
				return nil, nil, errQuiet{err}
			}
			ss.srv.cancel(ctx, pid, secret)
			return nil, nil, errQuiet{errCancelDone}
		default:
			if pkt.code>>16 != 3 || pkt.code > protocol32 {
				return nil, nil, &ProtocolError{Code: codeFeatureNotSupported, Fatal: true,
					Msg: fmt.Sprintf("unsupported frontend protocol %d.%d: pgveil supports 3.0 to 3.2", pkt.code>>16, pkt.code&0xffff)}
			}
			params, err := startupParams(pkt.raw)
			if err != nil {
				return nil, nil, &ProtocolError{Code: codeProtocolViolation, Msg: "invalid startup packet", Fatal: true, Err: err}
			}
			if params["replication"] != "" && params["replication"] != "false" && params["replication"] != "off" && params["replication"] != "0" {
				return nil, nil, &ProtocolError{Code: codeFeatureNotSupported, Fatal: true,
					Msg: "replication connections are not supported through pgveil"}
			}
			if ss.cfg.TLS != nil && !tlsDone && !ss.cfg.AllowPlaintext {
				return nil, nil, &ProtocolError{Code: codeInvalidAuthSpec, Fatal: true,
					Msg:  "pgveil requires TLS for this connection",
					Hint: "Connect with sslmode=require (or verify-full)."}
			}
			if ss.srv.isDraining() {
				return nil, nil, &ProtocolError{Code: codeAdminShutdown, Msg: "pgveil is shutting down", Fatal: true}
			}
			return pkt.raw, params, nil
		}
	}
}

func (ss *session) upgradeTLS(ctx context.Context, prefix []byte, direct bool) error {
	conn := ss.client
	if prefix != nil {
		conn = &prefixConn{Conn: conn, prefix: prefix}
	}
	cfg := ss.cfg.TLS
	if direct {
		// Direct TLS negotiation requires the "postgresql" ALPN protocol.
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"postgresql"}
	}
	tc := tls.Server(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return errQuiet{fmt.Errorf("client TLS handshake: %w", err)}
	}
	if direct && tc.ConnectionState().NegotiatedProtocol != "postgresql" {
		return errQuiet{errors.New("direct TLS without ALPN postgresql")}
	}
	ss.client = tc
	return nil
}

// authenticate relays the authentication exchange until Postgres says
// AuthenticationOk: Postgres stays the authenticator.
func (ss *session) authenticate() error {
	upTLS := ss.srv.upstreamTLS != nil
	_, clientTLS := ss.client.(*tls.Conn)
	for {
		typ, body, err := ss.ur.next()
		if err != nil {
			return upstreamLost(err)
		}
		switch typ {
		case 'R':
			if len(body) < 4 {
				return upstreamViolation("short authentication request")
			}
			code := binary.BigEndian.Uint32(body)
			switch code {
			case 0: // AuthenticationOk
				ss.cw.appendFrame(typ, body)
				return nil
			case 3, 5: // cleartext, MD5
				ss.cw.appendFrame(typ, body)
				if err := ss.relayClientAuth(nil); err != nil {
					return err
				}
			case 10: // SASL
				filtered, mechs, err := filterSASLMechanisms(body)
				if err != nil {
					return upstreamViolation("malformed SASL mechanism list")
				}
				if len(filtered) <= 5 {
					return &ProtocolError{Code: codeInvalidAuthSpec, Fatal: true, Err: fmt.Errorf("upstream offers only %v", mechs),
						Msg:  "the database offers only SCRAM-SHA-256-PLUS, which cannot pass through pgveil",
						Hint: "pgveil terminates TLS, so SCRAM channel binding cannot work through it."}
				}
				ss.cw.appendFrame(typ, filtered)
				if err := ss.relayClientAuth(func(body []byte) error {
					mech, data, err := saslInitial(body)
					if err != nil {
						return &ProtocolError{Code: codeProtocolViolation, Msg: "malformed SASLInitialResponse", Fatal: true}
					}
					if mech == mechSCRAMPlus {
						return errChannelBinding
					}
					if len(data) > 0 && data[0] == 'y' && upTLS {
						// The client used TLS and would have used channel
						// binding had it been offered ("y,,"). Postgres
						// rejects that as a possible downgrade attack when
						// its own connection is TLS.
						return errChannelBinding
					}
					_ = clientTLS
					return nil
				}); err != nil {
					return err
				}
			case 11: // SASLContinue
				ss.cw.appendFrame(typ, body)
				if err := ss.relayClientAuth(nil); err != nil {
					return err
				}
			case 12: // SASLFinal
				ss.cw.appendFrame(typ, body)
			default: // Kerberos, GSS, SSPI and anything newer
				return &ProtocolError{Code: codeInvalidAuthSpec, Fatal: true,
					Msg:  fmt.Sprintf("authentication method %d cannot be relayed by pgveil", code),
					Hint: "Use scram-sha-256, md5, password or trust for connections from pgveil."}
			}
		case 'E':
			// Authentication failed, or the database refused the session.
			// Relay Postgres's own message.
			ss.cw.appendFrame(typ, body)
			ss.fatalSent.Store(true)
			return errQuiet{errors.New("upstream refused authentication")}
		case 'v', 'N':
			ss.cw.appendFrame(typ, body)
		default:
			return upstreamViolation(fmt.Sprintf("unexpected message %q during authentication", typ))
		}
	}
}

var errChannelBinding = &ProtocolError{Code: codeInvalidAuthSpec, Fatal: true,
	Msg:  "SCRAM channel binding cannot pass through pgveil, which terminates TLS",
	Hint: "Connect with channel_binding=disable, or configure pgveil's upstream_tls mode to disable."}

// relayClientAuth flushes what is pending to the client, reads its
// authentication response ('p') and forwards it upstream.
func (ss *session) relayClientAuth(check func([]byte) error) error {
	if err := ss.cw.flush(); err != nil {
		return errQuiet{err}
	}
	typ, body, err := ss.cr.next()
	if err != nil {
		if errors.Is(err, ErrMessageTooLarge) {
			return &ProtocolError{Code: codeProtocolViolation, Msg: "invalid authentication message length", Fatal: true}
		}
		// psql closes the connection when it needs to prompt for a password.
		return errQuiet{err}
	}
	if typ == 'X' {
		return errQuiet{errors.New("client ended authentication")}
	}
	if typ != 'p' {
		return &ProtocolError{Code: codeProtocolViolation, Msg: fmt.Sprintf("expected password response, got message type %q", typ), Fatal: true}
	}
	if check != nil {
		if err := check(body); err != nil {
			return err
		}
	}
	ss.uw.appendFrame(typ, body)
	if err := ss.uw.flush(); err != nil {
		return upstreamLost(err)
	}
	return nil
}

// finishStartup relays ParameterStatus and friends up to the first
// ReadyForQuery, replacing the upstream's BackendKeyData with the proxy's.
func (ss *session) finishStartup() error {
	for {
		typ, body, err := ss.ur.next()
		if err != nil {
			return upstreamLost(err)
		}
		switch typ {
		case 'K':
			if len(body) < 8 {
				return upstreamViolation("short BackendKeyData")
			}
			ss.keyMu.Lock()
			ss.upPID = binary.BigEndian.Uint32(body)
			ss.upSecret = append([]byte(nil), body[4:]...)
			ss.keyMu.Unlock()
			var k [8]byte
			binary.BigEndian.PutUint32(k[:], ss.proxyPID)
			copy(k[4:], ss.proxySecret[:])
			ss.cw.appendFrame('K', k[:])
		case 'Z':
			ss.cw.appendFrame(typ, body)
			if err := ss.cw.flush(); err != nil {
				return errQuiet{err}
			}
			return nil
		case 'E':
			ss.cw.appendFrame(typ, body)
			ss.fatalSent.Store(true)
			return errQuiet{errors.New("upstream refused the session")}
		case 'S':
			ss.noteParameter(body)
			ss.cw.appendFrame(typ, body)
		case 'N', 'v':
			ss.cw.appendFrame(typ, body)
		default:
			return upstreamViolation(fmt.Sprintf("unexpected message %q after authentication", typ))
		}
	}
}

func (ss *session) upstreamKey() (uint32, []byte) {
	ss.keyMu.Lock()
	defer ss.keyMu.Unlock()
	return ss.upPID, ss.upSecret
}

// startupFailed reports a startup error to the client (when there is one to
// report) and logs it.
func (ss *session) startupFailed(err error) {
	var q errQuiet
	if errors.As(err, &q) {
		if !errors.Is(err, errCancelDone) && !isClosed(q.err) {
			ss.log.Debug("connection ended during startup", "err", q.err)
		}
		if ss.cw != nil {
			ss.clientMu.Lock()
			ss.cw.flush()
			ss.clientMu.Unlock()
		}
		return
	}
	ss.srv.stats.refused.Add(1)
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		pe = &ProtocolError{Code: codeInternalError, Msg: "pgveil internal error during startup", Fatal: true, Err: err}
	}
	ss.log.Info("connection refused during startup", "code", pe.Code, "reason", pe.Error())
	ss.replyFatal(pe)
}

// replyFatal writes an ErrorResponse to the client after anything already
// buffered for it. Only the owner of ss.cw may call it: the startup phase or
// the server relay. The client relay uses replyFatalFromClientSide.
func (ss *session) replyFatal(pe *ProtocolError) {
	if ss.fatalSent.Swap(true) {
		return
	}
	ss.clientMu.Lock()
	defer ss.clientMu.Unlock()
	var buf []byte
	if ss.cw != nil {
		buf = ss.cw.buf
		ss.cw.buf = ss.cw.buf[:0]
	}
	buf = appendErrorResponse(buf, pe)
	ss.client.SetWriteDeadline(time.Now().Add(time.Second))
	ss.client.Write(buf)
}

// replyFatalFromClientSide writes an ErrorResponse from the client relay,
// which does not own ss.cw: the message goes out on its own, between two of
// the server relay's flushes, and the session is killed right after.
func (ss *session) replyFatalFromClientSide(pe *ProtocolError) {
	if ss.fatalSent.Swap(true) {
		return
	}
	buf := appendErrorResponse(nil, pe)
	ss.clientMu.Lock()
	defer ss.clientMu.Unlock()
	ss.client.SetWriteDeadline(time.Now().Add(time.Second))
	ss.client.Write(buf)
}

// kill closes both connections, which ends both relays.
func (ss *session) kill() {
	ss.killOnce.Do(func() {
		ss.client.Close()
		ss.keyMu.Lock()
		up := ss.up
		ss.keyMu.Unlock()
		if up != nil {
			up.Close()
		}
	})
}

// drain asks the session to end as soon as no statement is running.
func (ss *session) drain() {
	ss.draining.Store(true)
	ss.keyMu.Lock()
	up := ss.up
	ss.keyMu.Unlock()
	if up != nil {
		// Wake the server relay so it notices an idle session. During
		// startup this ends the handshake, which is fine while draining.
		up.SetReadDeadline(time.Now())
	}
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// errQuiet wraps errors that end a connection without an ErrorResponse
// (the client is gone, or it asked for a cancel).
type errQuiet struct{ err error }

func (e errQuiet) Error() string { return e.err.Error() }
func (e errQuiet) Unwrap() error { return e.err }

var errCancelDone = errors.New("cancel request handled")

func upstreamLost(err error) error {
	if errors.Is(err, ErrMessageTooLarge) {
		return &ProtocolError{Code: codeProtocolViolation, Msg: "the database server sent a message larger than pgveil's limit", Fatal: true, Err: err}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &ProtocolError{Code: codeConnectionFailure, Msg: "timeout while connecting to the database server", Fatal: true, Err: err}
	}
	return &ProtocolError{Code: codeConnectionFailure, Msg: "pgveil lost the connection to the database server", Fatal: true, Err: err}
}

func upstreamViolation(what string) error {
	return &ProtocolError{Code: codeProtocolViolation, Msg: "protocol violation from the database server", Fatal: true, Err: errors.New(what)}
}

// prefixConn replays bytes already read before handing over to the
// connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// noteParameter records the ParameterStatus parameters pgveil's masking
// depends on: client_encoding, which decides whether the bytes of COPY
// output can be split into fields as ASCII and whether statement text can
// be read as UTF-8 (encodingHazard). Called only from the goroutine
// that reads the upstream (startup, then serverToClientInspect), in order.
func (ss *session) noteParameter(body []byte) {
	name, rest, ok := cstringNext(body)
	if !ok || name != "client_encoding" {
		return
	}
	val, _ := cstring(rest)
	ss.s2c.clientEncoding = val
	ss.encodingUnsafe.Store(asciiUnsafeEncodings[strings.ToUpper(val)])
}

// asciiUnsafeEncodings are the client encodings whose multi-byte
// characters can contain bytes in the ASCII range (a delimiter, a quote, a
// backslash); PostgreSQL does not escape those bytes in COPY output.
var asciiUnsafeEncodings = map[string]bool{
	"SJIS": true, "SHIFT_JIS_2004": true, "BIG5": true, "GBK": true,
	"UHC": true, "GB18030": true, "JOHAB": true,
}

// truncName cuts an identifier as Postgres does (NAMEDATALEN 64: at most 63
// bytes), at a UTF-8 character boundary.
func truncName(s string) string {
	const max = 63
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
