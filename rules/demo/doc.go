// Package demo generates pgveil's demo database: the customers, SMS,
// support tickets, logins and invoices of a fictitious messaging and
// help-desk service ("Nimbus"), with the classification (RulesYAML) and the
// login roles (Roles) that go with it. `pgveil demo` loads it, and the
// integration and leak-oracle tests use it as their fixture.
//
// What is guaranteed:
//
//   - Determinism: Generate with equal Options returns equal rows, and
//     WriteSQL writes equal bytes, on every platform and Go release (the
//     randomness is a fixed-seed PCG stream per table; math/rand/v2's PCG
//     algorithm is fixed, and this package derives its integers itself).
//   - Completeness of Personal: every personal-data value stored, and the
//     identifiers written into free text, are listed, so that a test can
//     prove that none of them reaches a masked client.
//   - Separation: no fragment of six or more bytes of a personal value
//     (compared case-insensitively) occurs in a column that RulesYAML leaves
//     unclassified, except fragments of birth dates, which look like the
//     event timestamps. So a leak oracle's hit is a leak, not noise.
//   - Nobody's data: names are drawn from built-in lists; e-mail domains are
//     RFC 2606 example domains; IPs come from reserved ranges
//     (198.18.0.0/15, 203.0.113.0/24, 2001:db8::/32); US and UK phone
//     numbers use the ranges reserved for fiction. Other phone numbers, tax
//     IDs (German Steuer-ID with its check digit, US SSN format, UK NINO,
//     French SPI) and IBANs (with valid check digits) are random, so they
//     are well-formed for discovery tests and may coincide with a real one
//     only by chance, never together with its holder.
//   - Realism where tests need it: NULLs (some phones and birth dates),
//     names with apostrophes, hyphens and non-ASCII letters, IPv4 and IPv6,
//     multi-line ticket bodies, jsonb custom fields, SMS both older and
//     younger than the 180-day retention limit, and invoices (legal hold)
//     that reference customers.
//
// The package uses the standard library only, like all of rules/; loading
// is a plain SQL script (WriteSQL) that any client can run.
package demo

import _ "embed"

// RulesYAML is the demo's classification in pgveil's rules format
// (rules.yaml next to this file): customers, messages with the 180-day
// retention clause, tickets, login events, and invoices under legal hold.
// It is read-only: callers must not modify it.
//
//go:embed rules.yaml
var RulesYAML []byte
