package proxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server accepts client connections and runs one session per connection.
// Use NewServer, then Serve on one or more listeners, and Shutdown to drain.
type Server struct {
	cfg         Config
	upstreamTLS *tls.Config // nil when the upstream mode is disable

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	keys      map[uint32]*session // proxy-issued BackendKeyData process ID -> session
	draining  bool

	// wg counts connection goroutines; Shutdown waits for it.
	wg     sync.WaitGroup
	active atomic.Int64 // sessions past startup, for MaxConnections

	// rewrites caches row-filtered statement texts (bounded LRU).
	rewrites *rewriteCache

	// stats are cumulative counters, read by Stats.
	stats struct {
		accepted, refused, sessions, cancels                               atomic.Int64
		statements, deniedPolicy, deniedOpaque, deniedAudit, deniedSession atomic.Int64
		maskedValues, maskedRows                                           atomic.Int64
	}
}

// NewServer validates cfg and returns a server ready to Serve.
func NewServer(cfg Config) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       c,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		keys:      make(map[uint32]*session),
		rewrites:  newRewriteCache(4096),
	}
	if c.UpstreamTLS.Mode != UpstreamTLSDisable {
		host, _, _ := net.SplitHostPort(c.Upstream)
		var t *tls.Config
		if c.UpstreamTLS.Config != nil {
			t = c.UpstreamTLS.Config.Clone()
		} else {
			t = &tls.Config{}
		}
		if t.ServerName == "" {
			t.ServerName = host
		}
		if c.UpstreamTLS.Mode == UpstreamTLSRequire {
			// libpq's sslmode=require: encrypted, not verified.
			t.InsecureSkipVerify = true
		}
		s.upstreamTLS = t
	}
	return s, nil
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("proxy: server closed")

// Serve accepts connections on ln until ctx is done, ln fails, or Shutdown
// is called. Each connection gets a goroutine owned by the server; Shutdown
// (or the end of ctx, which closes every session at once) waits for them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			draining := s.draining
			s.mu.Unlock()
			if draining {
				return ErrServerClosed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Warn("accept failed, retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		s.stats.accepted.Add(1)
		s.wg.Add(1)
		// Owner: the server. Exits when the session ends; Shutdown and the
		// end of ctx end sessions.
		go func() {
			defer s.wg.Done()
			s.handle(ctx, conn)
		}()
	}
}

// Shutdown stops accepting, lets running statements finish, and closes each
// session as soon as it is idle (after its statement completes: the client
// gets FATAL 57P01, as when Postgres itself shuts down). When ctx ends first,
// the remaining sessions are closed at once. Shutdown returns when every
// session goroutine has exited.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	for ln := range s.listeners {
		ln.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.drain()
	}

	done := make(chan struct{})
	// Owner: Shutdown. Exits when every connection goroutine has returned,
	// which the forced close below guarantees.
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for ss := range s.sessions {
		ss.kill()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Accepted int64 // connections accepted
	Refused  int64 // connections refused before a session started
	Sessions int64 // sessions started (upstream authenticated)
	Active   int64 // sessions running now
	Cancels  int64 // cancel requests forwarded

	Statements    int64 // statements analysed (Query and Parse, per statement)
	DeniedPolicy  int64 // statements the policy refused
	DeniedOpaque  int64 // statements refused because they could not be analysed safely
	DeniedAudit   int64 // statements refused because the audit trail was down
	DeniedSession int64 // sessions the policy refused
	MaskedRows    int64 // DataRows and COPY rows rewritten
	MaskedValues  int64 // values masked (a lower bound: counted per row shape)
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepted: s.stats.accepted.Load(),
		Refused:  s.stats.refused.Load(),
		Sessions: s.stats.sessions.Load(),
		Active:   s.active.Load(),
		Cancels:  s.stats.cancels.Load(),

		Statements:    s.stats.statements.Load(),
		DeniedPolicy:  s.stats.deniedPolicy.Load(),
		DeniedOpaque:  s.stats.deniedOpaque.Load(),
		DeniedAudit:   s.stats.deniedAudit.Load(),
		DeniedSession: s.stats.deniedSession.Load(),
		MaskedRows:    s.stats.maskedRows.Load(),
		MaskedValues:  s.stats.maskedValues.Load(),
	}
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// register adds a session and issues its BackendKeyData. It fails when the
// server is draining.
func (s *Server) register(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return errDraining
	}
	for {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("issue cancel key: %w", err)
		}
		pid := binary.BigEndian.Uint32(b[:4]) & 0x7fffffff
		if pid == 0 || s.keys[pid] != nil {
			continue
		}
		ss.proxyPID = pid
		copy(ss.proxySecret[:], b[4:])
		s.keys[pid] = ss
		break
	}
	s.sessions[ss] = struct{}{}
	return nil
}

func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, ss)
	if s.keys[ss.proxyPID] == ss {
		delete(s.keys, ss.proxyPID)
	}
}

// cancel forwards a client's CancelRequest to the upstream backend of the
// session that owns the key, with that backend's own key. Unknown keys are
// ignored silently, as Postgres does.
func (s *Server) cancel(ctx context.Context, pid uint32, secret []byte) {
	s.mu.Lock()
	ss := s.keys[pid]
	s.mu.Unlock()
	if ss == nil || len(secret) != len(ss.proxySecret) || subtle.ConstantTimeCompare(secret, ss.proxySecret[:]) != 1 {
		s.cfg.Logger.Info("cancel request with unknown key ignored")
		return
	}
	upPID, upSecret := ss.upstreamKey()
	if upSecret == nil {
		return
	}
	conn, err := s.dialUpstream(ctx)
	if err != nil {
		s.cfg.Logger.Warn("cancel request: connect upstream", "err", err)
		return
	}
	defer conn.Close()
	pkt := make([]byte, 12, 12+len(upSecret))
	binary.BigEndian.PutUint32(pkt[4:], codeCancelRequest)
	binary.BigEndian.PutUint32(pkt[8:], upPID)
	pkt = append(pkt, upSecret...)
	binary.BigEndian.PutUint32(pkt, uint32(len(pkt)))
	conn.SetDeadline(time.Now().Add(s.cfg.DialTimeout))
	if _, err := conn.Write(pkt); err != nil {
		s.cfg.Logger.Warn("cancel request: send upstream", "err", err)
		return
	}
	// Postgres closes the connection after a cancel request without
	// answering; wait for that so the cancel is delivered before we return.
	var b [1]byte
	conn.Read(b[:])
	s.stats.cancels.Add(1)
}

// dialUpstream connects to Postgres and negotiates TLS per the configured
// mode. The returned connection has no deadline set.
func (s *Server) dialUpstream(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Upstream)
	if err != nil {
		return nil, fmt.Errorf("dial upstream %s: %w", s.cfg.Upstream, err)
	}
	conn = newRawTCP(conn)
	if s.upstreamTLS == nil {
		return conn, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var req [8]byte
	binary.BigEndian.PutUint32(req[:4], 8)
	binary.BigEndian.PutUint32(req[4:], codeSSLRequest)
	if _, err := conn.Write(req[:]); err != nil {
		conn.Close()
		return nil, fmt.Errorf("upstream SSLRequest: %w", err)
	}
	var resp [1]byte
	if _, err := conn.Read(resp[:]); err != nil {
		conn.Close()
		return nil, fmt.Errorf("upstream SSLRequest: %w", err)
	}
	if resp[0] != 'S' {
		conn.Close()
		return nil, errors.New("upstream refused TLS (upstream_tls mode requires it)")
	}
	tc := tls.Client(conn, s.upstreamTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("upstream TLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

var errDraining = errors.New("server is shutting down")
