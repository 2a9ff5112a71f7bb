// Package discover finds personal data in a live database: it reads every
// user table's columns from the catalogs, samples up to Config.SampleRows rows
// of each table (a repeatable TABLESAMPLE, so the same database gives the same
// answer), and classifies each column by
//
//   - its name: email, phone, full_name, billing_name, birth_date, dob, ip,
//     address, street, zip, ssn, tax_id, iban, card_number, user_agent, ...
//     (as words of snake_case or camelCase names, gated by the column's type:
//     a boolean email_verified is not an e-mail address);
//   - its type: inet and cidr hold IP addresses;
//   - its values: e-mail addresses; phone numbers in E.164 and national
//     formats; IPv4 and IPv6 addresses; IBANs with a valid mod-97 check;
//     payment cards passing Luhn; national IDs (US SSN, 11-digit tax IDs
//     such as the German Steuer-ID, UK NINO); person names (capitalised words
//     with at least one on built-in lists of common given and family names);
//     postal addresses (a street word and a number); user agent strings;
//   - what is inside free text and JSON: identifiers and names within text
//     values, and in json/jsonb documents keys named like personal data
//     (tax_id, postal_address, iban) and identifiers in their values.
//
// The detectors for structured identifiers are the scrub mask's
// (rules.FindIdentifiers), so what the scan calls an identifier is what the
// proxy scrubs. Numeric columns count as phone numbers or IDs only when
// their name says so (a ten-digit counter is not a phone number).
//
// Each column gets a proposed category (the built-in category names), a
// confidence between 0 and 1 and the evidence in words, never a value:
// sampled values stay in memory for the scan and appear in no result, error
// or log line. Result.Missing lists the columns at or above the confidence
// threshold that the current rules do not name (a CI gate on schema drift),
// and Result.WriteRules writes the current rules with the findings added as
// a valid rules file, one comment per column.
//
// The scan is a heuristic: it errs towards reporting, and a column it
// cannot see into (names and addresses written in ways the lists and
// patterns do not know, encrypted or encoded values) can escape it. Pair
// it with review.
//
// Scan reads with its connection, one read-only transaction per table,
// each sampling query bounded by Config.StatementTimeout. It needs SELECT on
// the tables (pg_read_all_data); a table it cannot read is judged by names
// and types alone.
package discover
