package policy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// bundleSnapshot is one revision of the HTTP bundle.
type bundleSnapshot struct {
	etag     string
	revision string // the manifest's revision, "" if none
	modules  []bundleModule
	data     map[string]any
	hash     [32]byte
}

type bundleModule struct {
	name string // "bundle:" + path inside the tarball
	raw  []byte
}

// errNotModified reports a 304 answer: the bundle did not change.
var errNotModified = errors.New("bundle not modified")

// fetchBundle downloads the bundle, sending the last ETag in If-None-Match.
// It returns errNotModified on 304.
func fetchBundle(ctx context.Context, cfg BundleConfig, etag string) (*bundleSnapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("bundle request: %w", err)
	}
	for k, v := range cfg.Headers {
		req.Header.Set(k, v)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bundle download: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotModified:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, errNotModified
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("bundle download %s: HTTP %s", redactURL(cfg.URL), resp.Status)
	}
	// The compressed body is bounded too; the reader bounds each file.
	body := io.LimitReader(resp.Body, cfg.MaxBytes+1)
	b, err := bundle.NewReader(body).
		WithRegoVersion(ast.RegoV1).
		WithSkipBundleVerification(true).
		WithSizeLimitBytes(cfg.MaxBytes).
		WithBundleEtag(resp.Header.Get("ETag")).
		Read()
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", redactURL(cfg.URL), err)
	}
	snap := &bundleSnapshot{etag: resp.Header.Get("ETag"), revision: b.Manifest.Revision, data: b.Data}
	for _, m := range b.Modules {
		snap.modules = append(snap.modules, bundleModule{name: "bundle:" + strings.TrimPrefix(m.Path, "/"), raw: m.Raw})
	}
	slices.SortFunc(snap.modules, func(a, b bundleModule) int { return strings.Compare(a.name, b.name) })
	// The manifest is part of data in OPA (data.system.bundles); pgveil
	// keeps only the bundle's own data.
	h := sha256.New()
	writeField(h, snap.revision)
	for _, m := range snap.modules {
		writeField(h, m.name)
		writeField(h, string(m.raw))
	}
	dj, err := json.Marshal(snap.data) // map keys are sorted: canonical
	if err != nil {
		return nil, fmt.Errorf("bundle data: %w", err)
	}
	writeField(h, string(dj))
	h.Sum(snap.hash[:0])
	return snap, nil
}

// redactURL drops the query string and user info of a URL for messages
// (they may carry tokens).
func redactURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.LastIndex(s[i+3:], "@"); j >= 0 && !strings.Contains(s[i+3:i+3+j], "/") {
			s = s[:i+3] + s[i+3+j+1:]
		}
	}
	return s
}
