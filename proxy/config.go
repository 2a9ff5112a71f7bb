package proxy

import (
	"crypto/tls"

	"errors"
	"fmt"
	"github.com/pgveil/pgveil/rules"
	"log/slog"
	"net"
	"time"
)

// Config configures a Server. The zero value of every field is a documented
// default; NewServer validates a copy and never mutates the caller's struct.
type Config struct {
	// Upstream is the Postgres server's host:port. Required.
	Upstream string

	// UpstreamTLS says how the proxy connects to Postgres.
	UpstreamTLS UpstreamTLS

	// TLS is the client-facing TLS configuration (certificate, optional
	// client CA). If nil, SSLRequest is answered 'N' and clients connect in
	// plaintext.
	TLS *tls.Config

	// AllowPlaintext lets clients connect without TLS even though TLS is
	// configured. If false (the default) and TLS is set, a StartupMessage
	// that did not come over TLS is refused with SQLSTATE 28000.
	AllowPlaintext bool

	// MaxConnections caps concurrent client sessions. Connections beyond it
	// are refused with SQLSTATE 53300 after their startup packet. If zero,
	// 1000.
	MaxConnections int

	// MaxMessageBytes caps the body length of any message in either
	// direction after startup. A client message over the limit is answered
	// with SQLSTATE 08P01 and the session is closed; an upstream message over
	// the limit closes the session. If zero, 64 MiB.
	MaxMessageBytes int

	// StartupTimeout bounds the time from accept to the upstream's
	// ReadyForQuery after authentication, including TLS handshakes and the
	// authentication exchange. If zero, 15 seconds.
	StartupTimeout time.Duration

	// IdleTimeout closes a session whose client sent nothing for this long
	// while no statement was running. If zero, sessions never idle out.
	IdleTimeout time.Duration

	// DialTimeout bounds connecting to the upstream (TCP and TLS). If zero,
	// 5 seconds.
	DialTimeout time.Duration

	// FlushThreshold is the output buffer size that triggers a write even if
	// more input is ready. If zero, 32 KiB.
	FlushThreshold int

	// Logger receives operational log lines. It never receives message
	// bodies or data values. If nil, logs are discarded.
	Logger *slog.Logger

	// Decider decides, per identity and statement, whether the statement may
	// run and what is masked. If nil the proxy is a pure pass-through: no
	// statement is analyzed and nothing is masked.
	Decider Decider

	// Analyzer parses statements for the Decider. Required when Decider is
	// set.
	Analyzer Analyzer

	// Schema supplies the schema snapshot that resolves RowDescription
	// fields to base columns. Required when Decider is set.
	Schema SchemaSource

	// Rules returns the current classification catalog (subject keys, and
	// what "reveals everything" means). Required when Decider is set.
	Rules func() *rules.Catalog

	// RestrictionTable names the table of restricted data subjects
	// ("pgveil.restricted_subjects", with a text column subject_id). When
	// set, every identity whose decision is not Unrestricted has the rows of
	// those subjects filtered out. If empty, restriction is off.
	RestrictionTable string

	// RestrictionActive reports whether any subject is restricted now. When
	// it returns false the restriction filter is left out (it would filter
	// nothing, and rewriting costs Postgres a plan per unnamed statement).
	// If nil, the filter is always applied when RestrictionTable is set.
	RestrictionActive func() bool

	// RestrictionFilters, if set, returns the restriction filter of every
	// table that can hold a subject's rows, tables reached through foreign
	// keys included (subject.RestrictionFilters); nil from it, or a nil
	// RestrictionFilters, means the tables with a subject_key only, with
	// their subject key compared to RestrictionTable.
	RestrictionFilters func() map[string]string

	// HashKey keys the hash mask. If nil, a hash mask makes the statement's
	// result fail (the session ends) rather than pass.
	HashKey []byte

	// Tracer receives one event per statement that touched personal data
	// and per refused session. If nil, nothing is recorded.
	Tracer QueryTracer

	// Observer receives every statement completion for operations metrics.
	// If nil, nothing is observed.
	Observer StatementObserver

	// Roles looks up the role memberships of a user once per session. If
	// nil, Identity.Roles holds only the user's own name.
	Roles RoleLookup
}

// UpstreamTLS configures the connection from the proxy to Postgres.
type UpstreamTLS struct {
	// Mode is "disable" (the default when empty), "require" (encrypt, do not
	// verify) or "verify-full" (encrypt and verify the certificate chain and
	// host name against RootCAs or the system pool).
	Mode string
	// Config carries RootCAs and, optionally, a client certificate. It is
	// cloned; ServerName defaults to the upstream host.
	Config *tls.Config
}

// Upstream TLS modes.
const (
	UpstreamTLSDisable    = "disable"
	UpstreamTLSRequire    = "require"
	UpstreamTLSVerifyFull = "verify-full"
)

func (c Config) withDefaults() (Config, error) {
	if c.Upstream == "" {
		return c, errors.New("proxy config: upstream address is required")
	}
	if _, _, err := net.SplitHostPort(c.Upstream); err != nil {
		return c, fmt.Errorf("proxy config: upstream %q: %w", c.Upstream, err)
	}
	switch c.UpstreamTLS.Mode {
	case "":
		c.UpstreamTLS.Mode = UpstreamTLSDisable
	case UpstreamTLSDisable, UpstreamTLSRequire, UpstreamTLSVerifyFull:
	default:
		return c, fmt.Errorf("proxy config: upstream TLS mode %q: want disable, require or verify-full", c.UpstreamTLS.Mode)
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 1000
	}
	if c.MaxConnections < 0 {
		return c, errors.New("proxy config: max connections must be positive")
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 64 << 20
	}
	if c.MaxMessageBytes < 1024 {
		return c, errors.New("proxy config: max message bytes must be at least 1024")
	}
	if c.StartupTimeout == 0 {
		c.StartupTimeout = 15 * time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.FlushThreshold == 0 {
		c.FlushThreshold = defaultFlushThreshold
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Decider != nil && (c.Analyzer == nil || c.Schema == nil || c.Rules == nil) {
		return c, errors.New("proxy config: a decider needs an analyzer, a schema source and rules")
	}
	return c, nil
}
