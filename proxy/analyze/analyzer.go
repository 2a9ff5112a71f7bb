package analyze

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rules"
)

// SnapshotSource supplies the current snapshot (*Store implements it).
type SnapshotSource interface {
	Current() *Snapshot
}

// staleRefresher is implemented by sources that can refresh on demand,
// rate-limited (*Store does).
type staleRefresher interface {
	RefreshIfStale(ctx context.Context) (*Snapshot, error)
}

// Config configures an Analyzer.
type Config struct {
	// CacheSize is the number of analyzed query strings kept (LRU). If zero,
	// 4096. The cache is keyed by (snapshot revision, query text).
	CacheSize int
	// ShapeCacheSize is the number of query shapes kept (shape.go: texts
	// that differ only in literal values share an analysis). If zero,
	// CacheSize; if negative, there is no shape cache.
	ShapeCacheSize int
	// MaxCachedQueryBytes is the longest query text that is cached; longer
	// ones are analyzed every time. If zero, 64 KiB.
	MaxCachedQueryBytes int
	// RefreshTimeout bounds the on-demand snapshot refresh that Analyze may
	// do (see Snapshots). If zero, 2 seconds.
	RefreshTimeout time.Duration
	// Snapshots supplies the snapshot Analyze uses. If it also offers
	// RefreshIfStale (as *Store does), a statement that names a relation the
	// snapshot does not know triggers a rate-limited refresh and is analyzed
	// again. If nil, Analyze uses an empty snapshot, in which every relation
	// is unknown.
	Snapshots SnapshotSource
}

// Analyzer turns SQL text into statement analyses, with a bounded cache. It
// is safe for concurrent use.
type Analyzer struct {
	cache    *lru.Cache[cacheKey, *entry]
	shapes   *lru.Cache[shapeKey, *shapeEntry] // see shape.go
	maxBytes int
	timeout  time.Duration
	src      SnapshotSource
	empty    *Snapshot
}

type cacheKey struct {
	rev uint64
	sql string
}

// entry is a cached analysis.
type entry struct {
	stmts []*rules.Statement
	// unknownRelations is true when a statement names a relation the
	// snapshot does not know (perhaps created after it was taken).
	unknownRelations bool
}

// New returns an Analyzer.
func New(cfg Config) (*Analyzer, error) {
	if cfg.CacheSize < 0 {
		return nil, errors.New("analyze: negative CacheSize")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 4096
	}
	if cfg.MaxCachedQueryBytes <= 0 {
		cfg.MaxCachedQueryBytes = 64 << 10
	}
	if cfg.RefreshTimeout <= 0 {
		cfg.RefreshTimeout = 2 * time.Second
	}
	c, err := lru.New[cacheKey, *entry](cfg.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	var shapes *lru.Cache[shapeKey, *shapeEntry]
	if cfg.ShapeCacheSize == 0 {
		cfg.ShapeCacheSize = cfg.CacheSize
	}
	if cfg.ShapeCacheSize > 0 {
		if shapes, err = lru.New[shapeKey, *shapeEntry](cfg.ShapeCacheSize); err != nil {
			return nil, fmt.Errorf("analyze: %w", err)
		}
	}
	return &Analyzer{cache: c, shapes: shapes, maxBytes: cfg.MaxCachedQueryBytes, timeout: cfg.RefreshTimeout, src: cfg.Snapshots, empty: NewSnapshot(nil, nil, Trust{})}, nil
}

// Analyze analyzes sql with the configured source's current snapshot: one
// Statement per statement of the string, in order. The statements are
// shared (cached) and must not be modified. It never fails on bad SQL
// (unparseable text yields one Opaque statement of KindUnknown); the error
// is reserved for a cancelled ctx during an on-demand snapshot refresh, in
// which case the statements from the old snapshot are returned with it.
func (a *Analyzer) Analyze(ctx context.Context, sql string) ([]*rules.Statement, error) {
	snap := a.empty
	if a.src != nil {
		if s := a.src.Current(); s != nil {
			snap = s
		}
	}
	ent := a.lookup(snap, sql)
	if !ent.unknownRelations {
		return ent.stmts, nil
	}
	r, ok := a.src.(staleRefresher)
	if !ok {
		return ent.stmts, nil
	}
	rctx, cancel := context.WithTimeout(ctx, a.timeout)
	ns, err := r.RefreshIfStale(rctx)
	cancel()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ent.stmts, ctxErr
		}
		// A failed refresh keeps the old analysis: unknown relations are
		// already Unknown (fail closed). The store reports the failure.
		return ent.stmts, nil
	}
	if ns == nil || ns.Revision() == snap.Revision() {
		return ent.stmts, nil
	}
	return a.lookup(ns, sql).stmts, nil
}

// AnalyzeWith analyzes sql against the given snapshot (nil means empty).
// The statements are shared and must not be modified.
func (a *Analyzer) AnalyzeWith(snap *Snapshot, sql string) []*rules.Statement {
	if snap == nil {
		snap = a.empty
	}
	return a.lookup(snap, sql).stmts
}

func (a *Analyzer) lookup(snap *Snapshot, sql string) *entry {
	if len(sql) > a.maxBytes {
		return analyzeText(snap, sql)
	}
	k := cacheKey{rev: snap.Revision(), sql: sql}
	if e, ok := a.cache.Get(k); ok {
		return e
	}
	var sh shaped
	shapeOK := false
	if a.shapes != nil {
		sh, shapeOK = shapeOf(sql)
	}
	sk := shapeKey{rev: k.rev, shape: sh.key}
	if shapeOK {
		if se, ok := a.shapes.Get(sk); ok && se.serves(sql, sh.lits) {
			a.cache.Add(k, se.ent)
			return se.ent
		}
	}
	e, p := analyzeTree(snap, sql)
	a.cache.Add(k, e)
	if shapeOK && p.tree != nil && verifyShape(sh, p.tokens) {
		a.shapes.Add(sk, &shapeEntry{ent: e, pinned: pinLiterals(sql, sh.lits, p.tree, p.consulted)})
	}
	return e
}

// Purge empties the caches.
func (a *Analyzer) Purge() {
	a.cache.Purge()
	if a.shapes != nil {
		a.shapes.Purge()
	}
}

// analyzeText parses sql and analyzes each statement.
func analyzeText(snap *Snapshot, sql string) *entry {
	e, _ := analyzeTree(snap, sql)
	return e
}

// parsed is what an analysis learned on the way that the shape cache needs.
type parsed struct {
	tree      *pg.ParseResult // nil when sql did not parse or its analysis failed
	tokens    []*pg.ScanToken // pg_query's scan of sql; nil when it failed
	consulted []int32         // locations of constants whose values were read (engine.consult)
}

// analyzeTree is analyzeText that also returns what the shape cache needs.
// It scans sql once: the tokens serve the literal check, every statement's
// Normalized text and the shape's verification.
func analyzeTree(snap *Snapshot, sql string) (*entry, parsed) {
	tree, err := pg.Parse(sql)
	if err != nil {
		// Never include the parser's message: it quotes the text near the
		// error, which may be a literal value.
		st := &rules.Statement{
			Kind:         rules.KindUnknown,
			Summary:      "UNKNOWN",
			Opaque:       true,
			OpaqueReason: "statement could not be parsed",
			Returns:      true,
		}
		st.Normalized, _ = normalize(sql)
		st.Fingerprint = textFingerprint(st.Normalized)
		return &entry{stmts: []*rules.Statement{st}}, parsed{}
	}
	var p parsed
	scan, scanErr := pg.Scan(sql)
	if scanErr == nil {
		p.tokens = scan.Tokens
	}
	if len(tree.Stmts) == 0 {
		p.tree = tree
		return &entry{stmts: []*rules.Statement{{Kind: rules.KindEmpty}}}, p
	}
	ent := &entry{stmts: make([]*rules.Statement, 0, len(tree.Stmts))}
	p.tree = tree
	lits := backslashLiterals(sql, p.tokens, scanErr != nil)
	for _, raw := range tree.Stmts {
		start, end := stmtSpan(sql, raw)
		text := sql[start:end]
		r := analyzeRaw(snap, raw.Stmt)
		st := r.st
		if reason := lits.ambiguity(st, raw); reason != "" {
			st.Opaque = true
			if st.OpaqueReason != "" {
				reason = st.OpaqueReason + "; " + reason
			}
			st.OpaqueReason = reason
		}
		var maxParam int
		if scanErr == nil {
			st.Normalized, maxParam = normalizeTokens(text, tokensIn(p.tokens, start, end), start)
		}
		if maxParam > st.Params && st.Kind != rules.KindPrepare {
			st.Params = maxParam
		}
		if fp, err := pg.Fingerprint(text); err == nil {
			st.Fingerprint = fp
		} else {
			st.Fingerprint = textFingerprint(st.Normalized)
		}
		for in := st.Inner; in != nil; in = in.Inner {
			in.Normalized = st.Normalized
			in.Fingerprint = st.Fingerprint + ":inner"
		}
		if r.e == nil {
			p.tree = nil // the analysis failed: nothing to share
		} else {
			ent.unknownRelations = ent.unknownRelations || r.e.unknownRel
			p.consulted = append(p.consulted, r.e.consulted...)
		}
		ent.stmts = append(ent.stmts, st)
	}
	return ent, p
}

// The parser reads SQL with standard_conforming_strings on, PostgreSQL's
// default, where a backslash in a plain '...' literal is an ordinary
// character. A session can turn it off (SET, set_config, a role setting, the
// startup packet; a pipeline can do it between two statements before pgveil
// sees the server report it). Then Postgres reads those literals as E'...':
// \' no longer ends the string, so Postgres and pgveil would disagree on
// where it ends, and the rest of the text (what pgveil took for string
// content) could be SQL that reads personal data. So, whatever the session's
// setting:
//
//   - a plain literal that contains \' makes every statement of the text
//     opaque (without \' both readings end every literal at the same byte:
//     a backslash then only changes the characters of the value);
//   - a plain literal with any backslash makes a COPY statement opaque,
//     because its DELIMITER, NULL, QUOTE and ESCAPE values decide how pgveil
//     splits the rows it masks.
//
// E'...' literals, dollar quoting and parameters read the same either way.

// literalScan is what backslashLiterals found in a query string.
type literalScan struct {
	failed    bool  // the scanner failed: every statement is opaque
	quote     bool  // a plain literal contains \'
	backslash []int // start offsets of plain literals that contain a backslash
}

func backslashLiterals(sql string, tokens []*pg.ScanToken, scanFailed bool) literalScan {
	if !strings.Contains(sql, `\`) {
		return literalScan{}
	}
	if scanFailed {
		return literalScan{failed: true}
	}
	var ls literalScan
	for _, t := range tokens {
		start, end := int(t.Start), int(t.End)
		if t.Token != pg.Token_SCONST || start < 0 || end > len(sql) || start >= end || sql[start] != '\'' {
			continue
		}
		lit := sql[start:end]
		if strings.Contains(lit, `\`) {
			ls.backslash = append(ls.backslash, start)
			if strings.Contains(lit, `\'`) {
				ls.quote = true
			}
		}
	}
	return ls
}

// ambiguity returns why st (parsed as raw) may mean something else with
// standard_conforming_strings off, or "".
func (ls literalScan) ambiguity(st *rules.Statement, raw *pg.RawStmt) string {
	switch {
	case ls.failed:
		return "its string literals could not be scanned"
	case ls.quote:
		return `a string literal contains \', which PostgreSQL reads differently when standard_conforming_strings is off (write it as E'...' or pass a parameter)`
	case len(ls.backslash) == 0 || (st.Kind != rules.KindCopyTo && st.Kind != rules.KindCopyFrom):
		return ""
	}
	start := int(raw.StmtLocation)
	end := start + int(raw.StmtLen)
	for _, at := range ls.backslash {
		if at >= start && (raw.StmtLen == 0 || at < end) {
			return `a COPY option contains a backslash, which PostgreSQL reads differently when standard_conforming_strings is off (write it as E'...')`
		}
	}
	return ""
}

// analyzeRaw analyzes one parsed statement, turning a panic (a bug) into an
// opaque statement: the analyzer must never take the proxy down, and a
// statement it failed on must not pass as harmless.
func analyzeRaw(snap *Snapshot, n *pg.Node) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{st: &rules.Statement{
				Kind:         rules.KindUnknown,
				Summary:      "UNKNOWN",
				Opaque:       true,
				OpaqueReason: "internal analyzer error",
				Returns:      true,
			}}
		}
	}()
	return analyzeNode(snap, n, false)
}

// stmtSpan returns the offsets of one statement of sql, without the white
// space around it.
func stmtSpan(sql string, raw *pg.RawStmt) (start, end int) {
	start = int(raw.StmtLocation)
	if start < 0 || start > len(sql) {
		start = 0
	}
	end = len(sql)
	if raw.StmtLen > 0 && start+int(raw.StmtLen) <= len(sql) {
		end = start + int(raw.StmtLen)
	}
	for start < end && isSpaceByte(sql[start]) {
		start++
	}
	for end > start && isSpaceByte(sql[end-1]) {
		end--
	}
	return start, end
}

// isSpaceByte is white space as strings.TrimSpace sees it in ASCII (the
// scanner's white space is ASCII).
func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// tokensIn returns the tokens that lie within sql[start:end].
func tokensIn(tokens []*pg.ScanToken, start, end int) []*pg.ScanToken {
	i := 0
	for i < len(tokens) && int(tokens[i].Start) < start {
		i++
	}
	j := i
	for j < len(tokens) && int(tokens[j].End) <= end {
		j++
	}
	return tokens[i:j]
}

// normalize returns the statement with every literal (string, number, bit
// string) replaced by $n, comments removed and whitespace collapsed, plus
// the highest $n already in the text. It works on the scanner's tokens, so
// it also covers utility statements that pg_query's Normalize leaves alone
// (PREPARE, COPY 'file', DDL defaults). On a scanner error it returns "".
func normalize(text string) (string, int) {
	res, err := pg.Scan(text)
	if err != nil {
		return "", 0
	}
	return normalizeTokens(text, res.Tokens, 0)
}

// normalizeTokens is normalize with text's tokens already scanned; their
// offsets are base more than those in text.
func normalizeTokens(text string, tokens []*pg.ScanToken, base int) (string, int) {
	maxParam := 0
	for _, t := range tokens {
		start, end := int(t.Start)-base, int(t.End)-base
		if t.Token == pg.Token_PARAM && 0 <= start && start < end && end <= len(text) {
			if n, err := strconv.Atoi(strings.TrimPrefix(text[start:end], "$")); err == nil && n > maxParam {
				maxParam = n
			}
		}
	}
	var b strings.Builder
	b.Grow(len(text))
	next := maxParam + 1
	pos := 0
	for _, t := range tokens {
		start, end := int(t.Start)-base, int(t.End)-base
		if start < pos || end > len(text) || start > end {
			return "", maxParam
		}
		gap := text[pos:start]
		if strings.TrimSpace(gap) != "" {
			// Bytes the scanner did not tokenize: refuse rather than leak.
			return "", maxParam
		}
		if gap != "" {
			b.WriteByte(' ')
		}
		switch {
		case t.Token == pg.Token_SQL_COMMENT || t.Token == pg.Token_C_COMMENT:
			b.WriteByte(' ')
		case literalToken(t.Token):
			b.WriteString("$" + strconv.Itoa(next))
			next++
		default:
			b.WriteString(text[start:end])
		}
		pos = end
	}
	if strings.TrimSpace(text[pos:]) != "" {
		return "", maxParam
	}
	return strings.Join(strings.Fields(b.String()), " "), maxParam
}

func textFingerprint(s string) string {
	return fmt.Sprintf("%016x", pg.HashXXH3_64([]byte(s), 0))
}
