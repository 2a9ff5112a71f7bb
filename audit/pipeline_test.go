package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// fakeUploader is an exporter whose failures and hangs the test controls.
// It records the fingerprints (seqEvent numbers) it accepted, in order.
type fakeUploader struct {
	mu      sync.Mutex
	down    bool
	hang    chan struct{} // non-nil: uploads wait until it is closed
	got     []string
	uploads int
}

func (f *fakeUploader) Start(context.Context) error { return nil }
func (f *fakeUploader) Stop(context.Context) error  { return nil }

func (f *fakeUploader) UploadTraces(ctx context.Context, rss []*tracepb.ResourceSpans) error {
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uploads++
	if f.down {
		return errors.New("connection refused")
	}
	for _, s := range flattenSpans(rss) {
		for _, kv := range s.Attributes {
			if kv.Key == string(AttrFingerprint) {
				f.got = append(f.got, kv.Value.GetStringValue())
			}
		}
	}
	return nil
}

func (f *fakeUploader) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
}

func (f *fakeUploader) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// pipeTracer is New with a fake exporter and short retry back-offs.
func pipeTracer(t testing.TB, cfg Config, up uploader) *Tracer {
	t.Helper()
	if cfg.Exporter == "" {
		cfg.Exporter = ExporterOTLPGRPC
	}
	cfg.PseudonymKey = testSecret
	cfg.retryMin, cfg.retryMax = 10*time.Millisecond, 50*time.Millisecond
	tr, err := newTracer(context.Background(), cfg, up)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tr.Shutdown(ctx)
	})
	return tr
}

func seqNames(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("seq-%06d", i))
	}
	return out
}

// waitFor polls cond every 5 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func checkExactlyOnceInOrder(t testing.TB, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	var dups, missing []string
	for k, n := range seen {
		if n > 1 {
			dups = append(dups, k)
		}
	}
	for _, w := range want {
		if seen[w] == 0 {
			missing = append(missing, w)
		}
	}
	sort.Strings(dups)
	t.Fatalf("received %d spans, want %d in order; duplicates %v, missing %v, sorted %v",
		len(got), len(want), dups, missing, slices.IsSorted(got))
}

func TestPipelineOrderAndExactlyOnceAcrossFailures(t *testing.T) {
	up := &fakeUploader{}
	tr := pipeTracer(t, Config{SpoolDir: t.TempDir(), BatchSize: 8}, up)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // flap the exporter: down 150 ms (past spillDelay), up 40 ms
		down := false
		for {
			d := 40 * time.Millisecond
			if down {
				d = 150 * time.Millisecond
			}
			select {
			case <-stop:
				return
			case <-time.After(d):
				down = !down
				up.setDown(down)
			}
		}
	})
	const n = 1000
	for i := range n {
		tr.TraceStatement(context.Background(), seqEvent(i))
		if i%10 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	up.setDown(false)
	if err := tr.ForceFlush(testCtx(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, up.received(), seqNames(0, n))
	s := tr.Stats()
	t.Logf("stats %+v", s)
	if s.Dropped != 0 || s.Exported+s.Replayed != n || s.Spooled == 0 || s.Replayed == 0 || s.SpoolSpans != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestPipelineSlowExporterSpills: an upload hangs; newer spans go to the
// spool behind the batch in the air, which is spooled first; when the
// upload returns, its spool copy is removed, not replayed.
func TestPipelineSlowExporterSpills(t *testing.T) {
	hang := make(chan struct{})
	up := &fakeUploader{hang: hang}
	tr := pipeTracer(t, Config{SpoolDir: t.TempDir(), BatchSize: 8}, up)
	const n = 100
	for i := range n {
		tr.TraceStatement(context.Background(), seqEvent(i))
	}
	waitFor(t, 5*time.Second, "spans spooled behind the hanging upload", func() bool { return tr.Stats().Spooled >= n })
	if err := tr.Ready(); err != nil {
		t.Fatalf("Ready while the spool absorbs a slow exporter: %v", err)
	}
	up.mu.Lock()
	up.hang = nil
	up.mu.Unlock()
	close(hang)
	if err := tr.ForceFlush(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, up.received(), seqNames(0, n))
	s := tr.Stats()
	if s.Exported+s.Replayed != n || s.Replayed == 0 || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPipelineDenyWithoutSpool(t *testing.T) {
	up := &fakeUploader{down: true}
	tr := pipeTracer(t, Config{}, up)
	if err := tr.Ready(); err != nil {
		t.Fatalf("Ready before any failure: %v", err)
	}
	tr.TraceStatement(context.Background(), seqEvent(0))
	waitFor(t, 5*time.Second, "Ready to refuse", func() bool { return errors.Is(tr.Ready(), ErrUnavailable) })
	if msg := tr.Ready().Error(); !strings.Contains(msg, "audit trail cannot be written") || !strings.Contains(msg, "personal data is unavailable") {
		t.Errorf("message %q", msg)
	}
	up.setDown(false)
	waitFor(t, 5*time.Second, "Ready to recover", func() bool { return tr.Ready() == nil })
	if err := tr.ForceFlush(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, up.received(), seqNames(0, 1))
}

func TestPipelineAllowWithoutSpoolNeverRefuses(t *testing.T) {
	up := &fakeUploader{down: true}
	tr := pipeTracer(t, Config{OnFailure: OnFailureAllow, QueueSize: 16, BatchSize: 4}, up)
	for i := range 100 {
		tr.TraceStatement(context.Background(), seqEvent(i))
		if err := tr.Ready(); err != nil {
			t.Fatalf("Ready under allow: %v", err)
		}
	}
	waitFor(t, 5*time.Second, "spans beyond the memory bound to be dropped", func() bool { return tr.Stats().Dropped > 0 })
	up.setDown(false)
	if err := tr.ForceFlush(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, s := up.received(), tr.Stats()
	if int64(len(got))+s.Dropped != 100 || !slices.IsSorted(got) {
		t.Errorf("received %d + dropped %d != 100 (sorted %v)", len(got), s.Dropped, slices.IsSorted(got))
	}
}

func TestPipelineSpoolFull(t *testing.T) {
	for _, mode := range []string{OnFailureDeny, OnFailureAllow} {
		t.Run(mode, func(t *testing.T) {
			up := &fakeUploader{down: true}
			tr := pipeTracer(t, Config{SpoolDir: t.TempDir(), SpoolMaxBytes: 8192, OnFailure: mode, QueueSize: 32, BatchSize: 4}, up)
			sent := 0
			for ; sent < 400; sent++ {
				if mode == OnFailureDeny && tr.Ready() != nil {
					break // the proxy refuses the statement: no event
				}
				tr.TraceStatement(context.Background(), seqEvent(sent))
				time.Sleep(2 * time.Millisecond)
			}
			s := tr.Stats()
			t.Logf("sent %d, stats %+v", sent, s)
			if mode == OnFailureDeny {
				if sent == 400 || !errors.Is(tr.Ready(), ErrUnavailable) {
					t.Fatalf("Ready never refused with a full spool (sent %d)", sent)
				}
				if s.SpoolBytes > 8192 {
					t.Errorf("spool %d bytes over its 8192 bound", s.SpoolBytes)
				}
			} else if s.Dropped == 0 {
				t.Errorf("allow: nothing dropped with a full spool")
			}
			up.setDown(false)
			waitFor(t, 10*time.Second, "Ready after replay", func() bool { return tr.Ready() == nil })
			if err := tr.ForceFlush(testCtx(t, 10*time.Second)); err != nil {
				t.Fatal(err)
			}
			s = tr.Stats()
			got := up.received()
			if mode == OnFailureDeny {
				if s.Dropped != 0 {
					t.Errorf("deny dropped %d spans", s.Dropped)
				}
				checkExactlyOnceInOrder(t, got, seqNames(0, sent))
			} else if int64(len(got))+s.Dropped != int64(sent) || !slices.IsSorted(got) {
				t.Errorf("allow: received %d + dropped %d != sent %d", len(got), s.Dropped, sent)
			}
		})
	}
}

// TestSpoolCrashRecovery: records written before a crash replay on the next
// start; a truncated last record and a bit-flipped middle record are set
// aside and counted; a half-written .tmp is removed.
func TestSpoolCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	down := &fakeUploader{down: true}
	tr := pipeTracer(t, Config{SpoolDir: dir, BatchSize: 5}, down)
	const n = 50
	for i := range n {
		tr.TraceStatement(context.Background(), seqEvent(i))
	}
	waitFor(t, 5*time.Second, "all spans spooled", func() bool { return tr.Stats().SpoolSpans == n })
	// The crash: the process stops without Shutdown. Release the spool
	// lock the way the kernel would, then damage the files.
	tr.pipe.closed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	tr.Shutdown(ctx)

	files, _ := filepath.Glob(filepath.Join(dir, "*"+spoolExt))
	sort.Strings(files)
	if len(files) < 4 {
		t.Fatalf("%d records, want several", len(files))
	}
	count := func(path string) int {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, c, err := parseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		return int(c)
	}
	// Which spans each record holds, to know which must be missing.
	var perRecord []int
	for _, f := range files {
		perRecord = append(perRecord, count(f))
	}
	last := files[len(files)-1]
	fi, _ := os.Stat(last)
	if err := os.Truncate(last, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	mid := files[2]
	b, _ := os.ReadFile(mid)
	b[len(b)-3] ^= 0x40
	if err := os.WriteFile(mid, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00000000000000009999.tmp"), []byte("PVS1 half"), 0o600); err != nil {
		t.Fatal(err)
	}

	up := &fakeUploader{}
	tr2 := pipeTracer(t, Config{SpoolDir: dir, BatchSize: 5}, up)
	if err := tr2.ForceFlush(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var want []string
	at := 0
	for i, c := range perRecord {
		if i != 2 && i != len(perRecord)-1 {
			want = append(want, seqNames(at, at+c)...)
		}
		at += c
	}
	checkExactlyOnceInOrder(t, up.received(), want)
	s := tr2.Stats()
	if s.CorruptRecords != 2 || s.Dropped != int64(perRecord[2]+perRecord[len(perRecord)-1]) {
		t.Errorf("stats %+v, want 2 corrupt records and %d dropped", s, perRecord[2]+perRecord[len(perRecord)-1])
	}
	bad, _ := filepath.Glob(filepath.Join(dir, "*"+spoolBadExt))
	tmp, _ := filepath.Glob(filepath.Join(dir, "*"+spoolTmpExt))
	if len(bad) != 2 || len(tmp) != 0 {
		t.Errorf("%d .corrupt files (want 2), %d .tmp (want 0)", len(bad), len(tmp))
	}
}

func TestShutdownSpoolsWhenDownAndNextStartReplays(t *testing.T) {
	dir := t.TempDir()
	down := &fakeUploader{down: true}
	tr := pipeTracer(t, Config{SpoolDir: dir}, down)
	for i := range 20 {
		tr.TraceStatement(context.Background(), seqEvent(i))
	}
	if err := tr.Shutdown(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if s := tr.Stats(); s.SpoolSpans != 20 || s.Dropped != 0 {
		t.Fatalf("after shutdown: %+v", s)
	}
	tr.TraceStatement(context.Background(), seqEvent(99)) // after Shutdown: counted as dropped
	if s := tr.Stats(); s.Dropped != 1 {
		t.Errorf("a span after Shutdown: dropped = %d", s.Dropped)
	}
	if !errors.Is(tr.Ready(), ErrUnavailable) {
		t.Error("Ready after Shutdown")
	}

	up := &fakeUploader{}
	tr2 := pipeTracer(t, Config{SpoolDir: dir}, up)
	if err := tr2.ForceFlush(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, up.received(), seqNames(0, 20))
}

func TestShutdownWithoutSpoolDropsAtDeadline(t *testing.T) {
	up := &fakeUploader{down: true}
	tr := pipeTracer(t, Config{}, up)
	for i := range 5 {
		tr.TraceStatement(context.Background(), seqEvent(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := tr.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown with undeliverable spans and no spool returned nil")
	}
	if s := tr.Stats(); s.Dropped != 5 {
		t.Errorf("dropped %d, want 5", s.Dropped)
	}
}

func TestShutdownDeliversWhenHealthy(t *testing.T) {
	up := &fakeUploader{}
	tr := pipeTracer(t, Config{SpoolDir: t.TempDir()}, up)
	for i := range 300 {
		tr.TraceStatement(context.Background(), seqEvent(i))
	}
	if err := tr.Shutdown(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	got, s := up.received(), tr.Stats()
	if int64(len(got))+s.SpoolSpans != 300 || s.Dropped != 0 {
		t.Errorf("delivered %d + spooled %d of 300, dropped %d", len(got), s.SpoolSpans, s.Dropped)
	}
}

func TestSpoolDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	pipeTracer(t, Config{SpoolDir: dir}, &fakeUploader{})
	_, err := newTracer(context.Background(), Config{Exporter: ExporterOTLPGRPC, SpoolDir: dir}, &fakeUploader{})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second tracer on one spool dir: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Exporter: "jaeger"}, "exporter"},
		{Config{Exporter: ExporterFile}, "needs file"},
		{Config{Exporter: ExporterOTLPGRPC, OnFailure: "ignore"}, "on_failure"},
		{Config{Exporter: ExporterOTLPGRPC, SpoolMaxBytes: 100}, "spool_max_bytes"},
		{Config{Exporter: ExporterOTLPGRPC, PseudonymKey: []byte("short")}, "pseudonym key"},
	}
	for _, tt := range tests {
		_, err := New(context.Background(), tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.cfg, err, tt.want)
		}
	}
	tr, err := New(context.Background(), Config{})
	if err != nil || tr.Ready() != nil {
		t.Fatalf("exporter none: %v", err)
	}
	tr.TraceStatement(context.Background(), sampleEvent())
	if tr.Events().ByOutcome["ok"] != 1 {
		t.Error("exporter none does not count events")
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true}, {"256MiB", 256 << 20, true}, {"1GB", 1e9, true}, {"64k", 64000, true},
		{" 2 gib ", 2 << 30, true}, {"10B", 10, true}, {"", 0, false}, {"MiB", 0, false}, {"5 parsecs", 0, false},
		{"99999999999999999999", 0, false}, {"9999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v", tt.in, got, err)
		}
	}
}
