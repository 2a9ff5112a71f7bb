package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pgveil/pgveil/proxy"
)

// fileConfig is pgveil.yaml. Every field's zero value is the documented
// default; unknown keys are an error.
type fileConfig struct {
	Listen      string         `yaml:"listen"`
	Upstream    string         `yaml:"upstream"`
	TLS         tlsConfig      `yaml:"tls"`
	UpstreamTLS upstreamTLS    `yaml:"upstream_tls"`
	ControlDSN  string         `yaml:"control_dsn"`
	Rules       string         `yaml:"rules"`
	Policy      policyConfig   `yaml:"policy"`
	Audit       auditConfig    `yaml:"audit"`
	Limits      limitsConfig   `yaml:"limits"`
	Metrics     metricsConfig  `yaml:"metrics"`
	Masking     maskingConfig  `yaml:"masking"`
	Log         logConfig      `yaml:"log"`
	Shutdown    shutdownConfig `yaml:"shutdown"`

	// dir is the directory of the config file; relative paths are relative
	// to it.
	dir string
}

type tlsConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Require refuses plaintext clients when a certificate is configured.
	// Nil means true.
	Require  *bool  `yaml:"require"`
	ClientCA string `yaml:"client_ca"`
}

type upstreamTLS struct {
	Mode string `yaml:"mode"`
	CA   string `yaml:"ca"`
}

type policyConfig struct {
	Paths  []string     `yaml:"paths"`
	Bundle bundleConfig `yaml:"bundle"`
	// Timeout bounds one policy evaluation; zero means 100ms.
	Timeout duration `yaml:"timeout"`
}

type bundleConfig struct {
	URL  string   `yaml:"url"`
	Poll duration `yaml:"poll"`
}

type auditConfig struct {
	Exporter  string            `yaml:"exporter"`
	Endpoint  string            `yaml:"endpoint"`
	Insecure  *bool             `yaml:"insecure"`
	Headers   map[string]string `yaml:"headers"`
	CA        string            `yaml:"ca"`
	File      string            `yaml:"file"`
	SpoolDir  string            `yaml:"spool_dir"`
	SpoolMax  string            `yaml:"spool_max_bytes"`
	OnFailure string            `yaml:"on_failure"`
}

type limitsConfig struct {
	MaxConnections  int      `yaml:"max_connections"`
	MaxMessageBytes int      `yaml:"max_message_bytes"`
	IdleTimeout     duration `yaml:"idle_timeout"`
	StartupTimeout  duration `yaml:"startup_timeout"`
}

type metricsConfig struct {
	Listen string `yaml:"listen"`
}

type maskingConfig struct {
	// HashKeyFile holds the secret key of the hash mask. Empty means a key
	// derived from... nothing: a random key per process, so pseudonyms are
	// not stable across restarts (a warning is logged).
	HashKeyFile string `yaml:"hash_key_file"`
}

type logConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

type shutdownConfig struct {
	// DrainTimeout is how long SIGTERM lets running statements finish.
	// Zero means 30s.
	DrainTimeout duration `yaml:"drain_timeout"`
}

// duration is a time.Duration in YAML ("30s", "5m").
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (like 30s or 5m)", n.Line, s)
	}
	*d = duration(v)
	return nil
}

// loadConfig reads a config file strictly: unknown keys are errors that name
// the key.
func loadConfig(path string) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, friendlyYAMLError(err))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c.dir = filepath.Dir(abs)
	return &c, nil
}

// friendlyYAMLError rewrites yaml.v3's "field x not found in type
// main.fileConfig" into "unknown key x".
func friendlyYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if i := strings.Index(m, "field "); i >= 0 && strings.Contains(m, " not found in type ") {
			key := m[i+len("field "):]
			key = key[:strings.Index(key, " not found")]
			msgs = append(msgs, m[:i]+"unknown key "+fmt.Sprintf("%q", key))
			continue
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// path resolves p relative to the config file's directory.
func (c *fileConfig) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// proxyConfig turns the file into a proxy.Config (without the decider,
// analyzer and tracer, which the caller wires).
func (c *fileConfig) proxyConfig() (proxy.Config, error) {
	pc := proxy.Config{
		Upstream:        c.Upstream,
		MaxConnections:  c.Limits.MaxConnections,
		MaxMessageBytes: c.Limits.MaxMessageBytes,
		IdleTimeout:     time.Duration(c.Limits.IdleTimeout),
		StartupTimeout:  time.Duration(c.Limits.StartupTimeout),
	}
	if c.Upstream == "" {
		return pc, errors.New("config: upstream is required (or pass --upstream)")
	}
	if c.TLS.Cert != "" || c.TLS.Key != "" {
		if c.TLS.Cert == "" || c.TLS.Key == "" {
			return pc, errors.New("config: tls needs both cert and key")
		}
		cert, err := tls.LoadX509KeyPair(c.path(c.TLS.Cert), c.path(c.TLS.Key))
		if err != nil {
			return pc, fmt.Errorf("config: tls: %w", err)
		}
		pc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if c.TLS.ClientCA != "" {
			pool, err := loadPool(c.path(c.TLS.ClientCA))
			if err != nil {
				return pc, fmt.Errorf("config: tls.client_ca: %w", err)
			}
			pc.TLS.ClientCAs = pool
			pc.TLS.ClientAuth = tls.VerifyClientCertIfGiven
		}
		pc.AllowPlaintext = c.TLS.Require != nil && !*c.TLS.Require
	} else if c.TLS.ClientCA != "" || c.TLS.Require != nil {
		return pc, errors.New("config: tls.require and tls.client_ca need tls.cert and tls.key")
	}
	switch c.UpstreamTLS.Mode {
	case "", proxy.UpstreamTLSDisable, proxy.UpstreamTLSRequire, proxy.UpstreamTLSVerifyFull:
	default:
		return pc, fmt.Errorf("config: upstream_tls.mode %q: want disable, require or verify-full", c.UpstreamTLS.Mode)
	}
	pc.UpstreamTLS.Mode = c.UpstreamTLS.Mode
	if c.UpstreamTLS.CA != "" {
		pool, err := loadPool(c.path(c.UpstreamTLS.CA))
		if err != nil {
			return pc, fmt.Errorf("config: upstream_tls.ca: %w", err)
		}
		pc.UpstreamTLS.Config = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return pc, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificates", path)
	}
	return pool, nil
}
