package subject

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/rules"
	"github.com/pgveil/pgveil/rules/internal/dbschema"
	"github.com/pgveil/pgveil/rules/internal/jobaudit"
)

// RestrictReport says what Restrict or Unrestrict did.
type RestrictReport struct {
	Subject string `json:"subject"`
	// Restricted is the subject's state afterwards.
	Restricted bool `json:"restricted"`
	// Changed is false when the subject was already in that state.
	Changed bool `json:"changed"`
	// Since is when the restriction began (zero when not restricted).
	Since    time.Time `json:"since,omitzero"`
	Operator string    `json:"operator,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// restrictedDDL creates the restriction list. The proxy's row filters read
// it as the client's role, hence the grants to PUBLIC: it holds subject ids
// and who restricted them, no personal data beyond the id.
const restrictedDDL = `
CREATE SCHEMA IF NOT EXISTS pgveil;
CREATE TABLE IF NOT EXISTS ` + RestrictedTable + ` (
    subject_id    text PRIMARY KEY,
    restricted_at timestamptz NOT NULL DEFAULT now(),
    operator      text,
    reason        text
);
COMMENT ON TABLE ` + RestrictedTable + ` IS 'pgveil: data subjects whose processing is restricted (GDPR Art. 18); maintained by pgveil subject restrict/unrestrict';
GRANT USAGE ON SCHEMA pgveil TO PUBLIC;
GRANT SELECT ON ` + RestrictedTable + ` TO PUBLIC;`

// EnsureRestrictedTable creates the restriction list when it does not exist.
// Concurrent callers (several pgveil instances) serialise on an advisory
// lock, so exactly one creates it. It needs CREATE on the database the first
// time only.
func EnsureRestrictedTable(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", RestrictedTable).Scan(&exists); err != nil {
		return fmt.Errorf("restriction list: %w", err)
	}
	if exists {
		return nil
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('pgveil.restricted_subjects'))"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, restrictedDDL)
		return err
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", RestrictedTable, err)
	}
	return nil
}

// Restrict puts subject id on the restriction list, with the operator and
// reason, and records one audit event. The subject must have rows
// (ErrNotFound otherwise); restricting a restricted subject changes nothing.
func (p *Processor) Restrict(ctx context.Context, conn *pgx.Conn, id, reason string) (*RestrictReport, error) {
	rec := p.recorder(conn)
	if err := rec.Ready(); err != nil {
		return nil, fmt.Errorf("subject restrict: %w", err)
	}
	start := time.Now()
	sc, err := p.loadScope(ctx, conn, id)
	if err != nil {
		return nil, fmt.Errorf("subject restrict: %w", err)
	}
	counts, err := sc.count(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("subject restrict: %w", err)
	}
	if err := sc.found(ctx, conn, counts); err != nil {
		return nil, fmt.Errorf("subject restrict: %w", err)
	}
	rep := &RestrictReport{Subject: sc.canonical, Restricted: true}
	err = EnsureRestrictedTable(ctx, conn)
	if err == nil {
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var why *string
			if reason != "" {
				why = &reason
			}
			err := tx.QueryRow(ctx, "INSERT INTO "+RestrictedTable+` (subject_id, operator, reason) VALUES ($1, $2, $3)
				ON CONFLICT (subject_id) DO NOTHING RETURNING restricted_at`, sc.canonical, p.cfg.Operator, why).Scan(&rep.Since)
			switch {
			case err == nil:
				rep.Changed, rep.Operator, rep.Reason = true, p.cfg.Operator, reason
				return nil
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			var old *string
			err = tx.QueryRow(ctx, "SELECT restricted_at, operator, reason FROM "+RestrictedTable+" WHERE subject_id = $1",
				sc.canonical).Scan(&rep.Since, &rep.Operator, &old)
			if old != nil {
				rep.Reason = *old
			}
			return err
		})
	}
	p.recordRestriction(ctx, rec, "SUBJECT RESTRICT", sc.canonical, rep, start, err)
	if err != nil {
		return nil, fmt.Errorf("subject restrict: %w", err)
	}
	return rep, nil
}

// Unrestrict takes subject id off the restriction list and records one
// audit event. The subject need not have rows any more (it may have been
// erased); unrestricting a subject that is not restricted changes nothing.
func (p *Processor) Unrestrict(ctx context.Context, conn *pgx.Conn, id string) (*RestrictReport, error) {
	rec := p.recorder(conn)
	if err := rec.Ready(); err != nil {
		return nil, fmt.Errorf("subject unrestrict: %w", err)
	}
	start := time.Now()
	sc, err := p.loadScope(ctx, conn, id)
	if err != nil {
		return nil, fmt.Errorf("subject unrestrict: %w", err)
	}
	// The canonical form needs the subject's rows; without them the id is
	// made canonical by its key type.
	counts, err := sc.count(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("subject unrestrict: %w", err)
	}
	if err := sc.found(ctx, conn, counts); err != nil {
		if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("subject unrestrict: %w", err)
		}
		k := sc.tables[0].key
		if err := conn.QueryRow(ctx, "SELECT $1::text::"+k.Type+"::text", id).Scan(&sc.canonical); err != nil {
			return nil, fmt.Errorf("subject unrestrict: %w", jobaudit.SafeError(err))
		}
	}
	rep := &RestrictReport{Subject: sc.canonical}
	var exists bool
	err = conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", RestrictedTable).Scan(&exists)
	if err == nil && exists {
		var since time.Time
		err = conn.QueryRow(ctx, "DELETE FROM "+RestrictedTable+" WHERE subject_id = $1 RETURNING restricted_at", sc.canonical).Scan(&since)
		switch {
		case err == nil:
			rep.Changed, rep.Since = true, since
		case errors.Is(err, pgx.ErrNoRows):
			err = nil
		}
	}
	p.recordRestriction(ctx, rec, "SUBJECT UNRESTRICT", sc.canonical, rep, start, err)
	if err != nil {
		return nil, fmt.Errorf("subject unrestrict: %w", err)
	}
	return rep, nil
}

func (p *Processor) recordRestriction(ctx context.Context, rec *jobaudit.Recorder, summary, subject string, rep *RestrictReport, start time.Time, err error) {
	kind, tag := rules.KindInsert, "INSERT"
	if summary == "SUBJECT UNRESTRICT" {
		kind, tag = rules.KindDelete, "DELETE"
	}
	var n int64
	if rep.Changed {
		n = 1
	}
	rec.Record(ctx, jobaudit.Event{
		Kind: kind, Summary: summary, Text: tag + " " + RestrictedTable + " subject", Tables: []string{RestrictedTable},
		CommandTag: tag, RowsAffected: n, Start: start, Err: err, SubjectKeys: []string{subject},
	})
}

// RestrictionFilters returns the row filters that hide restricted subjects'
// rows, per table (qualified name): for every table that can hold a
// subject's rows, through its subject key or through foreign keys (the
// scope of Export and Erase: invoice lines of a restricted customer's
// invoices too), a predicate that holds for the rows of no subject in
// RestrictedTable. Column references of the table itself are unqualified.
func RestrictionFilters(ctx context.Context, q dbschema.Querier, cat *rules.Catalog) (map[string]string, error) {
	schema, err := dbschema.Load(ctx, q)
	if err != nil {
		return nil, err
	}
	// Rules that name a table or column the database lacks (rules ahead
	// of a migration) leave that table out, not every table.
	sc, err := buildScope(schema, cat, true)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(sc.tables))
	for _, st := range sc.tables {
		out[st.table.Name] = "NOT COALESCE(" + st.restrictedCond("") + ", false)"
	}
	return out, nil
}

// restrictedCond is the condition "the row (of alias, or unqualified) is a
// restricted subject's".
func (s *scopeTable) restrictedCond(alias string) string {
	return s.condBy(alias, "pgveil_p", func(key string, _ *dbschema.Column) string {
		// The key outside the subquery: it cannot bind to a column of the
		// list.
		return "COALESCE((" + key + ")::text IN (SELECT pgveil_r.subject_id FROM " + RestrictedTable + " pgveil_r), false)"
	})
}
