package policy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/pgveil/pgveil/rules"
)

// Defaults of Config and BundleConfig.
const (
	DefaultTimeout        = 100 * time.Millisecond
	DefaultCacheSize      = 10000
	DefaultPollInterval   = 500 * time.Millisecond
	DefaultBundlePoll     = 30 * time.Second
	DefaultBundleMaxBytes = 64 << 20
	// MaxCacheSize bounds CacheSize: a decision cache entry costs a few
	// hundred bytes, so the largest cache stays under a few hundred MiB.
	MaxCacheSize = 1 << 20
)

// Config configures an Engine. The zero value of every field is a documented
// default; NewEngine works on a copy and never modifies the caller's struct.
type Config struct {
	// Paths are .rego files and directories (walked recursively) holding
	// the policy, plus optional data files (.json, .yaml, .yml) whose
	// content is placed under data the way `opa run` does: a data file in
	// directory a/b below a configured directory lands at data.a.b. Files
	// and directories whose name starts with "." and files with other
	// extensions are ignored. At least one of Paths and Bundle.URL is
	// required.
	Paths []string

	// Bundle optionally loads an OPA bundle over HTTP (see BundleConfig). Its
	// modules and data are compiled together with those of Paths.
	Bundle BundleConfig

	// Timeout bounds one policy evaluation. A statement whose evaluation
	// takes longer is refused. If zero, DefaultTimeout (100ms).
	Timeout time.Duration

	// CacheSize is the number of decisions kept (LRU). If zero,
	// DefaultCacheSize; it must not exceed MaxCacheSize. A negative value
	// disables the cache (every statement is evaluated; for tests and
	// benchmarks).
	CacheSize int

	// PollInterval is how often Run checks the files of Paths for changes
	// (a stat of every file; contents are read only when something
	// changed). If zero, DefaultPollInterval (500ms).
	PollInterval time.Duration

	// Catalog returns the current classification; it is called once per
	// decision and must be cheap and safe for concurrent use (an
	// atomic.Pointer's Load). Statement columns are classified with
	// (*rules.Catalog).Classify, and the catalog's revision is part of the
	// decision cache key. If nil, or if it returns nil, nothing is
	// classified (the empty catalog).
	Catalog func() *rules.Catalog

	// RowFilters must be set when the consumer of decisions enforces
	// Decision.RowFilters. If false, a decision that allows a statement
	// reading a table for which it returns a row filter is turned into a
	// refusal: a filter that nobody applies must not silently widen access.
	RowFilters bool

	// Logger receives reload outcomes (ERROR for a policy that does not
	// compile). Nothing is logged per decision. If nil, logs are discarded.
	Logger *slog.Logger

	// Now returns the current time; input.now is derived from it. If nil,
	// time.Now.
	Now func() time.Time
}

// BundleConfig configures an OPA bundle served over HTTP (OPA's bundle
// service API: a gzipped tarball with .manifest, *.rego and data.json
// files).
type BundleConfig struct {
	// URL is the bundle's address (http or https). Empty means no bundle.
	URL string
	// Poll is how often Run asks the server for a new revision, with
	// If-None-Match carrying the last ETag. If zero, DefaultBundlePoll (30s).
	Poll time.Duration
	// Headers are added to every request (for example Authorization).
	Headers map[string]string
	// Client performs the requests. If nil, a client with a 30s timeout.
	Client *http.Client
	// MaxBytes bounds the size of the (uncompressed) bundle. If zero,
	// DefaultBundleMaxBytes (64 MiB).
	MaxBytes int64
}

// withDefaults validates c and fills in the defaults, on a copy.
func (c Config) withDefaults() (Config, error) {
	if len(c.Paths) == 0 && c.Bundle.URL == "" {
		return c, errors.New("policy config: no policy: set paths or bundle.url")
	}
	if c.Timeout < 0 || c.PollInterval < 0 || c.Bundle.Poll < 0 || c.Bundle.MaxBytes < 0 {
		return c, errors.New("policy config: durations and sizes must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.CacheSize > MaxCacheSize {
		return c, fmt.Errorf("policy config: cache size %d exceeds %d", c.CacheSize, MaxCacheSize)
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Bundle.URL != "" {
		u, err := url.Parse(c.Bundle.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("policy config: bundle url %q: want an http or https URL", c.Bundle.URL)
		}
		if c.Bundle.Poll == 0 {
			c.Bundle.Poll = DefaultBundlePoll
		}
		if c.Bundle.MaxBytes == 0 {
			c.Bundle.MaxBytes = DefaultBundleMaxBytes
		}
		if c.Bundle.Client == nil {
			c.Bundle.Client = &http.Client{Timeout: 30 * time.Second}
		}
	}
	if c.Catalog == nil {
		c.Catalog = func() *rules.Catalog { return nil }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
