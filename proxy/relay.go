package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// relay runs the two directions until either ends, then joins both.
func (ss *session) relay(ctx context.Context) {
	done := make(chan error, 1)
	// Owner: relay. Exits when the upstream read or the client write fails,
	// which kill guarantees; relay waits for it before returning.
	s2c, c2s := ss.serverToClient, ss.clientToServer
	if ss.cfg.Decider != nil {
		s2c, c2s = ss.serverToClientInspect, ss.clientToServerInspect
	}
	go func() {
		err := s2c()
		ss.kill()
		done <- err
	}()
	cerr := c2s()
	ss.kill()
	serr := <-done
	switch {
	case !isClosed(cerr):
		ss.log.Info("session ended", "side", "client", "err", cerr)
	case !isClosed(serr):
		ss.log.Info("session ended", "side", "server", "err", serr)
	default:
		ss.log.Debug("session ended")
	}
}

// clientToServer forwards client messages upstream. It returns when the
// client terminates or disconnects, on a protocol error, or when the session
// is killed.
//
// Both pass-through relays read with frameReader.relayFrames: each read's
// complete frames are handled in place, and the output is flushed before
// waiting for more input.
func (ss *session) clientToServer() error {
	ended, err := ss.cr.relayFrames(ss.clientFrame, ss.beforeClientWait)
	if ended {
		return err
	}
	return ss.clientReadFailed(err)
}

// beforeClientWait runs before the client relay waits for the client: it
// flushes what goes upstream and arms the idle timer when no statement runs.
func (ss *session) beforeClientWait() error {
	if err := ss.uw.flush(); err != nil {
		return err
	}
	if idle := ss.cfg.IdleTimeout; idle > 0 {
		if ss.inflight.Load() == 0 {
			ss.client.SetReadDeadline(time.Now().Add(idle))
		} else {
			ss.client.SetReadDeadline(time.Time{})
		}
	}
	return nil
}

// clientReadFailed answers a failed read from the client (a bad frame
// length, the idle timeout) and returns what the client relay returns.
func (ss *session) clientReadFailed(err error) error {
	if errors.Is(err, ErrMessageTooLarge) || errors.Is(err, errBadLength) {
		ss.replyFatalFromClientSide(&ProtocolError{Code: codeProtocolViolation, Msg: "invalid message length", Fatal: true})
		return err
	}
	if ss.cfg.IdleTimeout > 0 && errors.Is(err, os.ErrDeadlineExceeded) && ss.inflight.Load() == 0 && !ss.draining.Load() {
		ss.replyFatalFromClientSide(&ProtocolError{Code: codeIdleTimeout, Msg: "terminating connection due to idle-session timeout", Fatal: true})
		return nil
	}
	return err
}

// clientFrame forwards one client message; done reports a Terminate.
func (ss *session) clientFrame(typ byte, body []byte) (done bool, err error) {
	uw := ss.uw
	switch typ {
	case 'Q', 'S', 'F':
		ss.inflight.Add(1)
	case 'P', 'B', 'E', 'D', 'C', 'H', 'd', 'c', 'f':
	case 'X':
		uw.appendFrame(typ, body)
		uw.flush()
		return true, nil
	default:
		ss.replyFatalFromClientSide(&ProtocolError{Code: codeProtocolViolation, Msg: fmt.Sprintf("invalid frontend message type %d", typ), Fatal: true})
		return true, fmt.Errorf("invalid frontend message type %d", typ)
	}
	if err := uw.appendFrame(typ, body); err != nil {
		return true, err
	}
	if uw.full() {
		if err := uw.flush(); err != nil {
			return true, err
		}
	}
	return false, nil
}

// serverToClient forwards upstream messages to the client. It returns when
// the upstream closes, the client cannot be written, or the session drains
// or is killed.
func (ss *session) serverToClient() error {
	return ss.relayFromServer(ss.serverFrame)
}

// relayFromServer reads upstream messages with relayFrames, handing each to
// frame, until frame ends the session or the upstream is lost; a drain's
// read deadline ends it once no statement is in flight.
func (ss *session) relayFromServer(frame func(typ byte, body []byte) (done bool, err error)) error {
	for {
		ended, err := ss.ur.relayFrames(frame, ss.flushClient)
		if ended {
			return err
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && ss.draining.Load() {
			if ss.inflight.Load() == 0 {
				ss.replyFatal(&ProtocolError{Code: codeAdminShutdown, Msg: "terminating connection because pgveil is shutting down", Fatal: true})
				return nil
			}
			ss.up.SetReadDeadline(time.Time{})
			continue
		}
		return ss.endUpstreamLost(err)
	}
}

// serverFrame forwards one upstream message; done reports that the session
// ends (drained).
func (ss *session) serverFrame(typ byte, body []byte) (done bool, err error) {
	ur, cw := ss.ur, ss.cw
	switch typ {
	case 'Z':
		if ss.inflight.Add(-1) <= 0 && ss.cfg.IdleTimeout > 0 {
			// The client relay may be blocked in a read that started
			// while this statement ran; arm its idle timer now.
			ss.client.SetReadDeadline(time.Now().Add(ss.cfg.IdleTimeout))
		}
		if err := cw.appendFrame(typ, body); err != nil {
			return true, err
		}
		if ss.draining.Load() && ss.inflight.Load() <= 0 {
			ss.replyFatal(&ProtocolError{Code: codeAdminShutdown, Msg: "terminating connection because pgveil is shutting down", Fatal: true})
			return true, nil
		}
		if !ur.hasFrame() {
			if err := ss.flushClient(); err != nil {
				return true, err
			}
			cw.trim()
		}
		return false, nil
	case 'E':
		if isFatal(body) {
			ss.fatalSent.Store(true)
		}
	}
	if err := cw.appendFrame(typ, body); err != nil {
		return true, err
	}
	if cw.full() {
		if err := ss.flushClient(); err != nil {
			return true, err
		}
	}
	return false, nil
}

func (ss *session) flushClient() error {
	if ss.cw.pending() == 0 {
		return nil
	}
	ss.clientMu.Lock()
	err := ss.cw.flush()
	ss.clientMu.Unlock()
	return err
}

// endUpstreamLost tells the client that the upstream went away (unless the
// upstream already said why, or the session was killed on purpose).
func (ss *session) endUpstreamLost(err error) error {
	if isClosed(err) && !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrMessageTooLarge) {
		pe := upstreamLost(err).(*ProtocolError)
		if errors.Is(err, ErrMessageTooLarge) {
			ss.log.Warn("upstream message over the size limit", "err", err)
		}
		ss.replyFatal(pe)
	}
	return err
}

// isFatal reports whether an ErrorResponse body has severity FATAL or PANIC.
func isFatal(body []byte) bool {
	for len(body) > 1 && body[0] != 0 {
		f := body[0]
		body = body[1:]
		end := 0
		for end < len(body) && body[end] != 0 {
			end++
		}
		v := body[:end]
		if end < len(body) {
			body = body[end+1:]
		} else {
			body = nil
		}
		if f == 'V' || f == 'S' {
			s := string(v)
			return s == "FATAL" || s == "PANIC"
		}
	}
	return false
}
