package proxy

import (
	"context"
	"time"

	"github.com/pgveil/pgveil/rules"
)

// admit completes the identity of an inspecting session (role memberships)
// and asks the policy whether the session may proceed at all.
func (ss *session) admit(ctx context.Context) error {
	ss.id.Roles = []string{ss.id.User}
	if ss.cfg.Roles != nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		roles, err := ss.cfg.Roles.Roles(rctx, ss.id.User)
		cancel()
		if err != nil {
			// A policy may use roles to restrict as well as to grant, so
			// an identity without its roles is not a safe identity.
			ss.log.Warn("role lookup failed; session refused", "err", err)
			return &ProtocolError{Code: codeInvalidAuthSpec, Fatal: true,
				Msg: "pgveil could not read this user's role memberships; try again shortly", Err: err}
		}
		if len(roles) > 0 {
			ss.id.Roles = roles
		}
	}
	ss.scrubAsync = true
	if sd, ok := ss.cfg.Decider.(SessionDecider); ok {
		start := time.Now()
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		dec, err := sd.DecideSession(dctx, &ss.id)
		cancel()
		if err != nil || !dec.Allow {
			reason := dec.Reason
			if err != nil {
				ss.log.Warn("session policy evaluation failed; session refused", "err", err)
				reason = "the policy could not be evaluated"
			}
			if reason == "" {
				reason = "not allowed for this identity"
			}
			ss.srv.stats.deniedSession.Add(1)
			pe := &ProtocolError{Code: codeInvalidAuthSpec, Fatal: true, Msg: "pgveil policy refused the session: " + reason}
			if ss.cfg.Tracer != nil {
				ev := &StatementEvent{Identity: &ss.id, Decision: &dec, Start: start, Duration: time.Since(start),
					Outcome: OutcomeDenied, SQLState: pe.Code, Reason: reason, ServerAddress: ss.cfg.Upstream}
				ss.cfg.Tracer.TraceStatement(ctx, ev)
			}
			return pe
		}
	}
	// Notices and notifications outside any statement are scrubbed unless
	// the identity sees everything: ask the policy about a statement that
	// touches no data.
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	dec, err := ss.cfg.Decider.Decide(pctx, &ss.id, probeStatement)
	cancel()
	if err == nil && dec.Allow {
		ss.scrubAsync = !dec.RevealsAll(ss.catalog())
	}
	ss.in = newInspector()
	ss.pend = make(chan pending, pendingCap)
	return nil
}

// probeStatement is a statement that touches no data, used to learn what an
// identity sees in general.
var probeStatement = &rules.Statement{Kind: rules.KindSelect, Summary: "SELECT", Returns: true}
