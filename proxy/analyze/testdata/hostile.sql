-- Hostile statement corpus: every known way to get personal data past a
-- masking proxy, over the demo schema only (rules/demo: customers, messages,
-- tickets, login_events, invoices, invoice_lines, products).
--
-- Format: an entry starts with "-- name: <id>". The "-- key: value" lines
-- that follow are expectations of the analyzer test (proxy/analyze); the
-- rest, up to the next entry, is the SQL (possibly several statements). The
-- proxy's leak oracle can run the SQL alone and ignore the directives.
--
--   vector:      the leak vector the entry exercises
--   kind:        expected rules.Kind (of the last statement)
--   out:         one line per output column, in order:
--                "direct SRC...", "derived SRC...", "none", "unknown [SRC...]"
--                SRC is table.column (schema public implied) or table.* for
--                every column of the table
--   outputs:     "nil" when the analyzer cannot tell the result shape
--   inner-out:   like out, for Statement.Inner
--   opaque, servercopy, catalogdata, returns: true or false
--   use:         "table.column use[,use]": the column has at least these uses
--   params:      the highest $n
--   statements:  number of statements (default 1)
--   changes-encoding: true or false (rules.Statement.ChangesEncoding)

-- name: plain_column
-- vector: baseline: a classified column read directly
-- kind: select
-- out: direct customers.email
SELECT email FROM customers

-- name: expr_lower
-- vector: function over a column (lower)
-- out: derived customers.email
SELECT lower(email) FROM customers

-- name: expr_concat_operator
-- vector: operator over a column (email || '')
-- out: derived customers.email
SELECT email || '' FROM customers

-- name: expr_substr
-- vector: substr keeps a fragment of the value
-- out: derived customers.phone
SELECT substr(phone, 1, 3) FROM customers

-- name: expr_format
-- vector: format() of several columns
-- out: derived customers.email customers.full_name
SELECT format('%s <%s>', full_name, email) FROM customers

-- name: expr_concat_function
-- vector: concat() of several columns
-- out: derived customers.email customers.full_name
SELECT concat(full_name, ' ', email) AS contact FROM customers

-- name: expr_cast_text
-- vector: cast of a date to text
-- out: derived customers.birth_date
SELECT birth_date::text FROM customers

-- name: expr_cast_error_echo
-- vector: a failing cast echoes the value in the error message
-- out: derived customers.email
SELECT email::int FROM customers

-- name: expr_case
-- vector: CASE returns one column depending on another
-- out: derived customers.email customers.phone
SELECT CASE WHEN email LIKE '%@example.com' THEN 'x' ELSE phone END FROM customers

-- name: expr_coalesce
-- vector: COALESCE of two classified columns
-- out: derived customers.email customers.phone
SELECT coalesce(phone, email) FROM customers

-- name: expr_nullif
-- vector: NULLIF
-- out: derived customers.email
SELECT nullif(email, '') FROM customers

-- name: expr_greatest
-- vector: GREATEST
-- out: derived customers.email customers.full_name
SELECT greatest(full_name, email) FROM customers

-- name: expr_date_arith
-- vector: arithmetic on a date
-- out: derived customers.birth_date
SELECT birth_date + 1 FROM customers

-- name: expr_extract
-- vector: EXTRACT (parsed into a pg_catalog function call)
-- out: derived customers.birth_date
SELECT extract(year FROM birth_date) FROM customers

-- name: expr_md5
-- vector: hash of a value (guessable for low-entropy data)
-- out: derived customers.email
SELECT md5(email) FROM customers

-- name: expr_reverse
-- vector: reversible transformation
-- out: derived customers.phone
SELECT reverse(phone) FROM customers

-- name: expr_replace
-- vector: replace()
-- out: derived customers.email
SELECT replace(email, '@', ' at ') FROM customers

-- name: expr_array_constructor
-- vector: ARRAY[...] of columns
-- out: derived customers.email customers.phone
SELECT ARRAY[email, phone] FROM customers

-- name: expr_subscript
-- vector: subscript of an array built from a column
-- out: derived customers.email
SELECT (ARRAY[email])[1] FROM customers

-- name: expr_jsonb_field
-- vector: jsonb field of a classified jsonb column
-- out: derived tickets.custom_fields
SELECT custom_fields ->> 'iban' FROM tickets

-- name: expr_json_build
-- vector: json_build_object of a column
-- out: derived customers.email
SELECT json_build_object('e', email) FROM customers

-- name: expr_collate
-- vector: COLLATE clause
-- out: derived customers.email
SELECT email COLLATE "C" FROM customers

-- name: expr_null_test
-- vector: IS NULL of a column (one bit of it)
-- out: derived customers.phone
SELECT phone IS NULL FROM customers

-- name: expr_xmlelement
-- vector: XML constructor
-- out: derived customers.email
SELECT xmlelement(name e, email) FROM customers

-- name: expr_row_compare
-- vector: row comparison
-- out: derived customers.email customers.phone
SELECT (email, phone) = ('a', 'b') FROM customers

-- name: expr_overlay
-- vector: OVERLAY syntax
-- out: derived customers.phone
SELECT overlay(phone placing 'xxx' from 1 for 3) FROM customers

-- name: expr_substring_regex
-- vector: SUBSTRING ... FROM regex syntax
-- out: derived customers.email
SELECT substring(email from '@(.*)$') FROM customers

-- name: expr_regexp_replace
-- vector: regexp_replace over free text
-- out: derived messages.body
SELECT regexp_replace(body, '[0-9]', '#', 'g') FROM messages

-- name: expr_tsvector
-- vector: to_tsvector keeps the words of the text
-- out: derived messages.body
SELECT to_tsvector('simple', body) FROM messages

-- name: expr_position
-- vector: POSITION syntax
-- out: derived customers.email
SELECT position('@' in email) FROM customers

-- name: expr_inet_host
-- vector: host() of an inet
-- out: derived login_events.ip
SELECT host(ip) FROM login_events

-- name: agg_min
-- vector: min() returns a stored value
-- out: derived customers.email
SELECT min(email) FROM customers

-- name: agg_max
-- vector: max() returns a stored value
-- out: derived customers.birth_date
SELECT max(birth_date) FROM customers

-- name: agg_string_agg
-- vector: string_agg concatenates every value
-- out: derived customers.email
SELECT string_agg(email, ',') FROM customers

-- name: agg_array_agg
-- vector: array_agg
-- out: derived customers.phone
SELECT array_agg(phone) FROM customers

-- name: agg_json_agg
-- vector: json_agg
-- out: derived customers.full_name
SELECT json_agg(full_name) FROM customers

-- name: agg_jsonb_agg_whole_row
-- vector: jsonb_agg of a whole row
-- out: derived customers.*
SELECT jsonb_agg(c) FROM customers c

-- name: agg_json_object_agg
-- vector: json_object_agg of two columns
-- out: derived customers.email customers.phone
SELECT json_object_agg(email, phone) FROM customers

-- name: agg_count_column
-- vector: count(email) is derived from email (not a value, but not nothing)
-- out: derived customers.email
SELECT count(email) FROM customers

-- name: agg_count_distinct
-- vector: count(DISTINCT email)
-- out: derived customers.email
SELECT count(DISTINCT email) FROM customers

-- name: agg_count_star
-- vector: baseline: count(*) derives from nothing
-- out: none
SELECT count(*) FROM customers

-- name: agg_mode_within_group
-- vector: mode() WITHIN GROUP returns the ordered value
-- out: derived customers.email
SELECT mode() WITHIN GROUP (ORDER BY email) FROM customers

-- name: agg_percentile_disc
-- vector: percentile_disc returns one of the ordered values
-- out: derived customers.birth_date
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY birth_date) FROM customers

-- name: agg_order_by_inside
-- vector: aggregate ORDER BY reveals the order of a column
-- out: derived customers.id
-- use: customers.email order
SELECT string_agg(id::text, ',' ORDER BY email) FROM customers

-- name: agg_filter
-- vector: aggregate FILTER clause
-- out: derived customers.email
-- use: customers.country filter
SELECT array_agg(email) FILTER (WHERE country = 'DE') FROM customers

-- name: agg_json_arrayagg
-- vector: SQL/JSON JSON_ARRAYAGG (PostgreSQL 16+)
-- out: derived customers.email
SELECT JSON_ARRAYAGG(email) FROM customers

-- name: agg_any_value
-- vector: any_value (PostgreSQL 16+)
-- out: derived customers.phone
SELECT any_value(phone) FROM customers

-- name: agg_having_min
-- vector: HAVING over a classified aggregate
-- out: direct customers.country
-- out: none
-- use: customers.email filter
SELECT country, count(*) FROM customers GROUP BY country HAVING min(email) LIKE 'a%'

-- name: window_lag
-- vector: lag() returns another row's value
-- out: derived customers.email
SELECT lag(email) OVER (ORDER BY id) FROM customers

-- name: window_lead_partition
-- vector: lead() with PARTITION BY
-- out: derived customers.phone
-- use: customers.country group
-- use: customers.created_at order
SELECT lead(phone) OVER (PARTITION BY country ORDER BY created_at) FROM customers

-- name: window_first_value_named
-- vector: first_value() over a named window
-- out: derived customers.full_name
SELECT first_value(full_name) OVER w FROM customers WINDOW w AS (ORDER BY id)

-- name: window_nth_value
-- vector: nth_value()
-- out: derived customers.email
SELECT nth_value(email, 2) OVER () FROM customers

-- name: window_row_number_order
-- vector: row_number() ordered by a classified column: no value, an order
-- out: none
-- use: customers.email order
SELECT row_number() OVER (ORDER BY email) FROM customers

-- name: whole_row_alias
-- vector: whole-row reference by alias
-- out: derived customers.*
SELECT c FROM customers c

-- name: whole_row_table_name
-- vector: whole-row reference by table name
-- out: derived customers.*
SELECT customers FROM customers

-- name: whole_row_star
-- vector: c.* expands to every column
-- out: direct customers.id
-- out: direct customers.full_name
-- out: direct customers.email
-- out: direct customers.phone
-- out: direct customers.birth_date
-- out: direct customers.country
-- out: direct customers.marketing_opt_in
-- out: direct customers.created_at
SELECT c.* FROM customers c

-- name: whole_row_to_json
-- vector: row_to_json(c)
-- out: derived customers.*
SELECT row_to_json(c) FROM customers c

-- name: whole_row_to_jsonb
-- vector: to_jsonb(c)
-- out: derived customers.*
SELECT to_jsonb(c) FROM customers c

-- name: whole_row_cast
-- vector: c::text
-- out: derived customers.*
SELECT c::text FROM customers c

-- name: whole_row_star_cast
-- vector: t.*::text
-- out: derived messages.*
SELECT m.*::text FROM messages m

-- name: whole_row_row_constructor
-- vector: ROW(c.*)
-- out: derived customers.*
SELECT ROW(c.*) FROM customers c

-- name: whole_row_format
-- vector: format('%s', c)
-- out: derived customers.*
SELECT format('%s', c) FROM customers c

-- name: whole_row_string_agg
-- vector: string_agg over whole rows
-- out: derived customers.*
SELECT string_agg(c::text, ';') FROM customers c

-- name: whole_row_field_select
-- vector: (c).email field selection
-- out: direct customers.email
SELECT (c).email FROM customers c

-- name: whole_row_field_star
-- vector: (c).* expansion
-- out: direct customers.id
-- out: direct customers.full_name
-- out: direct customers.email
-- out: direct customers.phone
-- out: direct customers.birth_date
-- out: direct customers.country
-- out: direct customers.marketing_opt_in
-- out: direct customers.created_at
SELECT (c).* FROM customers c

-- name: star_plain
-- vector: SELECT *
-- out: direct customers.id
-- out: direct customers.full_name
-- out: direct customers.email
-- out: direct customers.phone
-- out: direct customers.birth_date
-- out: direct customers.country
-- out: direct customers.marketing_opt_in
-- out: direct customers.created_at
SELECT * FROM customers

-- name: star_table_syntax
-- vector: TABLE t
-- out: direct messages.id
-- out: direct messages.customer_id
-- out: direct messages.to_phone
-- out: direct messages.body
-- out: direct messages.created_at
TABLE messages

-- name: star_column_aliases
-- vector: column aliases rename positions: x is the email column
-- out: direct customers.email
SELECT x FROM customers AS c(a, b, x)

-- name: star_column_aliases_star
-- vector: SELECT * with column aliases
-- out: direct invoices.id
-- out: direct invoices.customer_id
-- out: direct invoices.billing_name
-- out: direct invoices.billing_email
-- out: direct invoices.amount_cents
-- out: direct invoices.currency
-- out: direct invoices.issued_at
SELECT * FROM invoices AS i(a, b, c)

-- name: star_alias_swap
-- vector: subquery swaps column names
-- out: direct customers.email
SELECT id FROM (SELECT email AS id, id AS email FROM customers) s

-- name: star_subquery
-- vector: * over a subquery
-- out: direct customers.email
SELECT * FROM (SELECT email AS id FROM customers) s

-- name: star_only
-- vector: ONLY and TABLESAMPLE do not change lineage
-- out: direct customers.email
SELECT email FROM ONLY customers TABLESAMPLE SYSTEM (50)

-- name: natural_join_merged
-- vector: NATURAL JOIN merges same-named columns from both sides
-- out: direct customers.id invoices.id
-- out: derived customers.email invoices.billing_name
SELECT * FROM (SELECT id, email AS v FROM customers) a NATURAL JOIN (SELECT id, billing_name AS v FROM invoices) b

-- name: natural_join_tables
-- vector: NATURAL JOIN of two tables
-- out: direct customers.id invoices.id
-- out: direct customers.full_name
-- out: direct customers.email
-- out: direct customers.phone
-- out: direct customers.birth_date
-- out: direct customers.country
-- out: direct customers.marketing_opt_in
-- out: direct customers.created_at
-- out: direct invoices.customer_id
-- out: direct invoices.billing_name
-- out: direct invoices.billing_email
-- out: direct invoices.amount_cents
-- out: direct invoices.currency
-- out: direct invoices.issued_at
SELECT * FROM customers NATURAL JOIN invoices

-- name: using_merged_same_category
-- vector: USING merges the key from both sides (same category stays direct)
-- out: direct customers.email invoices.billing_email
-- use: invoices.billing_email join
SELECT k FROM (SELECT email AS k FROM customers) a JOIN (SELECT billing_email AS k FROM invoices) b USING (k)

-- name: using_full_join
-- vector: FULL JOIN USING: the merged column is COALESCE of both sides
-- out: derived customers.phone invoices.billing_name
SELECT k FROM (SELECT phone AS k FROM customers) a FULL JOIN (SELECT billing_name AS k FROM invoices) b USING (k)

-- name: using_join_alias
-- vector: JOIN USING ... AS alias (PostgreSQL 14+)
-- out: direct customers.email
SELECT u.k FROM (SELECT email AS k FROM customers) a JOIN (SELECT email AS k FROM customers) b USING (k) AS u

-- name: join_alias_star
-- vector: aliased join hides the inner names; j.* expands the merged columns
-- out: direct customers.id invoices.id
-- out: direct customers.full_name
-- out: direct customers.email
-- out: direct customers.phone
-- out: direct customers.birth_date
-- out: direct customers.country
-- out: direct customers.marketing_opt_in
-- out: direct customers.created_at
-- out: direct invoices.customer_id
-- out: direct invoices.billing_name
-- out: direct invoices.billing_email
-- out: direct invoices.amount_cents
-- out: direct invoices.currency
-- out: direct invoices.issued_at
SELECT j.* FROM (customers c JOIN invoices i USING (id)) AS j

-- name: union_same_category
-- vector: UNION of two email columns stays direct
-- out: direct customers.email invoices.billing_email
SELECT email FROM customers UNION SELECT billing_email FROM invoices

-- name: union_mixed_category
-- vector: UNION of email and name is derived from both
-- use: customers.full_name group
-- out: derived customers.email customers.full_name
SELECT email FROM customers UNION SELECT full_name FROM customers

-- name: intersect_phones
-- vector: INTERSECT
-- use: customers.phone group
-- out: direct customers.phone messages.to_phone
SELECT phone FROM customers INTERSECT SELECT to_phone FROM messages

-- name: except_emails
-- vector: EXCEPT
-- use: customers.email group
-- out: direct customers.email invoices.billing_email
SELECT email FROM customers EXCEPT SELECT billing_email FROM invoices

-- name: union_constant_branch
-- vector: UNION with a constant branch
-- out: direct customers.email
SELECT email FROM customers UNION ALL SELECT 'nobody'

-- name: union_expression_branch
-- vector: UNION with a computed branch
-- out: derived customers.email invoices.billing_email
SELECT email FROM customers UNION SELECT lower(billing_email) FROM invoices

-- name: union_positions
-- vector: set operations pair columns by position, not name
-- use: tickets.subject group
-- out: direct customers.id tickets.customer_id
-- out: derived customers.email tickets.subject
SELECT id, email FROM customers UNION SELECT customer_id, subject FROM tickets

-- name: union_order_by_output
-- vector: ORDER BY an output of a set operation
-- out: direct customers.email invoices.billing_email
-- use: customers.email order
SELECT email AS e FROM customers UNION SELECT billing_email FROM invoices ORDER BY e

-- name: cte_simple
-- vector: CTE
-- out: direct customers.email
WITH x AS (SELECT email FROM customers) SELECT * FROM x

-- name: cte_column_aliases
-- vector: CTE column aliases
-- out: direct customers.email
WITH x(a) AS (SELECT email FROM customers) SELECT a FROM x

-- name: cte_chain
-- vector: CTE referencing a CTE
-- out: derived customers.email
WITH a AS (SELECT email AS e FROM customers), b AS (SELECT upper(e) AS u FROM a) SELECT u FROM b

-- name: cte_recursive_derived
-- vector: recursive CTE appends to a value
-- out: derived customers.email
WITH RECURSIVE r(n, v) AS (SELECT 1, email FROM customers WHERE id = 1 UNION ALL SELECT n + 1, v || '.' FROM r WHERE n < 3) SELECT v FROM r

-- name: cte_recursive_late_source
-- vector: recursive step introduces a source the base lacks
-- out: direct customers.phone
WITH RECURSIVE r(n, v) AS (SELECT 1, ''::text UNION ALL SELECT n + 1, (SELECT phone FROM customers LIMIT 1) FROM r WHERE n < 2) SELECT v FROM r

-- name: cte_recursive_swap
-- vector: recursive step swaps columns: needs a fixpoint
-- out: derived customers.email customers.full_name
-- out: derived customers.email customers.full_name
WITH RECURSIVE r(a, b, n) AS (SELECT email, full_name, 1 FROM customers UNION ALL SELECT b, a, n + 1 FROM r WHERE n < 3) SELECT a, b FROM r

-- name: cte_shadows_table
-- vector: a CTE named like a table hides it
-- out: none
WITH customers AS (SELECT 1 AS email) SELECT email FROM customers

-- name: cte_materialized
-- vector: MATERIALIZED CTE
-- out: direct customers.phone
WITH x AS MATERIALIZED (SELECT phone FROM customers) SELECT phone FROM x

-- name: cte_data_modifying
-- vector: data-modifying CTE returning rows
-- out: direct customers.email
-- use: customers.marketing_opt_in write
WITH d AS (UPDATE customers SET marketing_opt_in = marketing_opt_in WHERE id = -1 RETURNING email) SELECT * FROM d

-- name: cte_delete_returning_star
-- vector: DELETE ... RETURNING * inside a CTE
-- out: direct messages.id
-- out: direct messages.customer_id
-- out: direct messages.to_phone
-- out: direct messages.body
-- out: direct messages.created_at
-- use: messages.body write
WITH d AS (DELETE FROM messages WHERE id = -1 RETURNING *) SELECT * FROM d

-- name: subquery_scalar
-- vector: scalar subquery in the select list
-- out: direct customers.email
SELECT (SELECT email FROM customers c WHERE c.id = m.customer_id) FROM messages m

-- name: subquery_from
-- vector: subquery in FROM
-- out: derived customers.email
SELECT s.e FROM (SELECT lower(email) AS e FROM customers) s

-- name: subquery_in_select
-- vector: IN (subquery) in the select list
-- out: derived customers.id invoices.customer_id
-- use: invoices.billing_email filter
SELECT id IN (SELECT customer_id FROM invoices WHERE billing_email LIKE 'a%') FROM customers

-- name: subquery_exists_select
-- vector: EXISTS probes a value (predicate inference: reported as filter)
-- out: none
-- use: customers.email filter
SELECT EXISTS (SELECT 1 FROM customers WHERE email = 'someone@example.com')

-- name: subquery_array
-- vector: ARRAY(subquery)
-- out: derived customers.email
SELECT ARRAY(SELECT email FROM customers)

-- name: subquery_correlated_where
-- vector: correlated subquery in WHERE
-- out: direct customers.id
-- use: messages.body filter
SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM messages m WHERE m.customer_id = c.id AND m.body LIKE '%code%')

-- name: subquery_nested_scalar
-- vector: nested scalar subqueries
-- out: derived customers.full_name
SELECT (SELECT upper((SELECT full_name FROM customers LIMIT 1)))

-- name: lateral_subquery
-- vector: LATERAL subquery echoes an outer column
-- out: direct customers.email
SELECT x.e FROM customers c, LATERAL (SELECT c.email AS e) x

-- name: lateral_cross_join
-- vector: CROSS JOIN LATERAL
-- out: direct messages.body
SELECT l.* FROM customers c CROSS JOIN LATERAL (SELECT body FROM messages m WHERE m.customer_id = c.id LIMIT 1) l

-- name: lateral_left_join
-- vector: LEFT JOIN LATERAL ... ON true
-- out: direct customers.id
-- out: derived customers.phone
SELECT c.id, l.p FROM customers c LEFT JOIN LATERAL (SELECT lower(c.phone) AS p) l ON true

-- name: values_constants
-- vector: baseline: VALUES of constants
-- out: none
-- out: none
SELECT * FROM (VALUES (1, 'a')) v(n, s)

-- name: values_lateral
-- vector: LATERAL VALUES of two columns
-- out: derived customers.email customers.phone
SELECT v.x FROM customers c, LATERAL (VALUES (c.email), (c.phone)) v(x)

-- name: values_subquery
-- vector: VALUES with a scalar subquery
-- out: direct customers.email
VALUES ((SELECT email FROM customers LIMIT 1))

-- name: srf_unnest_select_list
-- vector: set-returning function in the select list
-- out: derived customers.email customers.phone
SELECT unnest(array[email, phone]) FROM customers

-- name: srf_unnest_from
-- vector: unnest in FROM
-- out: derived customers.email
SELECT u FROM customers c, unnest(array[c.email]) u

-- name: srf_jsonb_each
-- vector: jsonb_each of a classified jsonb column
-- use: tickets.custom_fields filter
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
SELECT j.* FROM tickets t, jsonb_each(t.custom_fields) j

-- name: srf_jsonb_each_select_list
-- vector: jsonb_each_text in the select list
-- out: derived tickets.custom_fields
SELECT jsonb_each_text(custom_fields) FROM tickets

-- name: srf_generate_series
-- vector: baseline: generate_series
-- out: none
SELECT * FROM generate_series(1, 3) g

-- name: srf_unnest_multi
-- vector: multi-argument unnest
-- out: none
-- out: none
SELECT * FROM unnest(ARRAY[1, 2], ARRAY['a', 'b']) AS u(a, b)

-- name: srf_ordinality
-- vector: WITH ORDINALITY
-- out: derived customers.email
-- out: none
SELECT e, o FROM customers c, unnest(array[c.email]) WITH ORDINALITY AS u(e, o)

-- name: srf_jsonb_to_record
-- vector: jsonb_to_record with a column definition list
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
SELECT * FROM jsonb_to_record((SELECT custom_fields FROM tickets LIMIT 1)) AS r(iban text, tax_id text)

-- name: srf_jsonb_populate_record
-- vector: jsonb_populate_record with a table row type
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
-- out: derived tickets.custom_fields
SELECT r.* FROM tickets t, jsonb_populate_record(NULL::customers, t.custom_fields) r

-- name: srf_regexp_matches
-- vector: regexp_matches extracts fragments
-- use: messages.body filter
-- out: derived messages.body
SELECT regexp_matches(body, '[0-9]+') FROM messages

-- name: srf_cardinality_from
-- vector: row count of a set-returning function in FROM tells its argument (inference without WHERE)
-- use: customers.email filter
SELECT count(*) FROM customers c, generate_series(1, ascii(c.email)) WHERE c.id = 7

-- name: srf_cardinality_select_list
-- vector: row count of a set-returning function in the select list
-- use: customers.email filter,output
SELECT generate_series(1, ascii(email)) FROM customers WHERE id = 7

-- name: srf_cardinality_subquery
-- vector: row count of a set-returning function inside a subquery whose output is not returned
-- use: customers.phone filter
SELECT count(*) FROM (SELECT regexp_split_to_table(phone, '') FROM customers WHERE id = 7) s

-- name: distinct_plain
-- vector: DISTINCT compares values: how many rows survive reveals equality
-- use: customers.email group
SELECT DISTINCT left(email, 1) FROM customers

-- name: distinct_in_subquery_count
-- vector: DISTINCT in a subquery counted outside
-- use: customers.birth_date group
SELECT count(*) FROM (SELECT DISTINCT birth_date FROM customers) s

-- name: union_guess_oracle
-- vector: UNION against a guess: one row if the guess is right, two if not
-- use: customers.full_name group,filter
SELECT full_name FROM customers WHERE id = 7 UNION SELECT 'Anna Nowak'

-- name: group_by_guess
-- vector: GROUP BY a comparison with a guess: two groups if some value matches
-- use: customers.email group,filter
SELECT count(*) FROM (SELECT 1 FROM customers GROUP BY email = 'anna@example.com') s

-- name: group_by_guess_through_alias
-- vector: the comparison computed in a subquery, grouped outside
-- use: customers.email group,filter
SELECT count(*) FROM (SELECT x FROM (SELECT email = 'anna@example.com' AS x FROM customers) s GROUP BY x) t

-- name: distinct_function_probe
-- vector: DISTINCT over a function of a value and a guess (strpos)
-- use: customers.email group,filter
SELECT count(*) FROM (SELECT DISTINCT strpos(email, 'anna') FROM customers) s

-- name: partition_by_guess
-- vector: a window partition by a comparison with a guess (the partition sizes tell)
-- use: customers.email group,filter
SELECT count(*) OVER (PARTITION BY email = 'anna@example.com') FROM customers

-- name: join_guess_values
-- vector: join a classified column with a list of guesses (a WHERE ... IN in disguise)
-- use: customers.email join,filter
SELECT c.id FROM customers c JOIN (VALUES ('anna@example.com')) v(e) ON c.email = v.e

-- name: join_using_guess
-- vector: USING against a one-row relation of guesses
-- use: customers.email join,filter
SELECT count(*) FROM customers JOIN (SELECT 'anna@example.com'::text AS email) g USING (email)

-- name: join_non_equi
-- vector: a join condition that is not an equality chooses rows like WHERE
-- use: customers.email filter
SELECT count(*) FROM customers c JOIN products p ON p.id <= ascii(c.email) WHERE c.id = 7

-- name: join_equality_classified
-- vector: baseline: an equality of two classified columns is a join key only
-- use: customers.phone join
-- use: messages.to_phone join
SELECT count(*) FROM customers c JOIN messages m ON m.to_phone = c.phone

-- name: tablesample_from_data
-- vector: TABLESAMPLE percentage computed from data (the sample size tells it)
-- use: customers.email filter
SELECT count(*) FROM products TABLESAMPLE BERNOULLI ((SELECT length(email) FROM customers WHERE id = 7)) REPEATABLE (1)

-- name: srf_rows_from
-- vector: ROWS FROM
-- out: none
-- out: none
SELECT * FROM ROWS FROM (unnest(ARRAY[1]), generate_series(1, 2)) AS r(a, b)

-- name: srf_json_array_elements
-- vector: json_array_elements_text over an aggregate
-- use: customers.email filter
-- out: derived customers.email
SELECT * FROM json_array_elements_text((SELECT json_agg(email) FROM customers))

-- name: xmltable
-- vector: XMLTABLE over a classified column
-- use: tickets.body filter
-- out: derived tickets.body
SELECT x.* FROM tickets t, XMLTABLE('/a' PASSING xmlparse(document '<a>x</a>' || t.body) COLUMNS v text PATH '.') x

-- name: json_table
-- vector: JSON_TABLE (PostgreSQL 17+)
-- use: tickets.custom_fields filter
-- out: derived tickets.custom_fields
SELECT jt.* FROM tickets t, JSON_TABLE(t.custom_fields, '$' COLUMNS (iban text PATH '$.iban')) jt

-- name: returning_update
-- vector: UPDATE ... RETURNING a classified column
-- kind: update
-- out: direct customers.email
-- use: customers.phone write
UPDATE customers SET phone = phone WHERE id = -1 RETURNING email

-- name: returning_delete
-- vector: DELETE ... RETURNING
-- kind: delete
-- out: direct messages.body
-- use: messages.to_phone write
DELETE FROM messages WHERE id = -1 RETURNING body

-- name: returning_insert_values
-- vector: INSERT VALUES ... RETURNING
-- kind: insert
-- out: direct tickets.subject
-- out: direct tickets.body
-- servercopy: false
INSERT INTO tickets (customer_id, subject, body, status) VALUES (1, 'hi', 'there', 'open') RETURNING subject, body

-- name: insert_select_copy
-- vector: INSERT ... SELECT copies classified data into another column
-- kind: insert
-- outputs: nil
-- servercopy: true
-- use: customers.email copy
-- use: tickets.subject write
INSERT INTO tickets (customer_id, subject, body, status) SELECT id, email, phone, 'open' FROM customers

-- name: insert_select_returning
-- vector: INSERT ... SELECT ... RETURNING the copied value
-- out: derived customers.email tickets.subject
-- servercopy: true
INSERT INTO tickets (customer_id, subject, body, status) SELECT id, email, 'x', 'open' FROM customers RETURNING subject

-- name: update_from_copy
-- vector: UPDATE ... FROM copies a value from another table
-- kind: update
-- servercopy: true
-- use: customers.email copy
-- use: tickets.subject write
UPDATE tickets t SET subject = c.email FROM customers c WHERE c.id = t.customer_id

-- name: update_from_returning
-- vector: UPDATE ... FROM ... RETURNING the new value
-- out: derived customers.phone tickets.body
UPDATE tickets t SET body = c.phone FROM customers c WHERE c.id = t.customer_id AND false RETURNING t.body

-- name: update_multiassign
-- vector: UPDATE SET (a, b) = (SELECT ...)
-- out: derived customers.email tickets.subject
UPDATE tickets SET (subject, body) = (SELECT email, phone FROM customers WHERE customers.id = tickets.customer_id) WHERE false RETURNING subject

-- name: insert_on_conflict
-- vector: INSERT ... ON CONFLICT DO UPDATE ... RETURNING
-- out: direct customers.full_name
INSERT INTO customers (id, full_name, email, country) VALUES (1, 'x', 'y@example.com', 'DE') ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name RETURNING full_name

-- name: merge_copy
-- vector: MERGE copies a value
-- kind: merge
-- servercopy: true
-- use: customers.email copy
-- use: customers.id join
MERGE INTO tickets t USING customers c ON t.customer_id = c.id WHEN MATCHED AND false THEN UPDATE SET subject = c.email

-- name: delete_using
-- vector: DELETE ... USING filters on a classified column
-- kind: delete
-- use: customers.email filter
-- use: login_events.ip write
DELETE FROM login_events l USING customers c WHERE c.id = l.customer_id AND c.email LIKE '%@nowhere.invalid'

-- name: ctas
-- vector: CREATE TABLE AS copies data server side
-- kind: create_table_as
-- servercopy: true
-- use: customers.email copy
-- inner-out: direct customers.email
CREATE TABLE leak_ctas AS SELECT email FROM customers

-- name: ctas_temp
-- vector: temporary table filled from classified data
-- kind: create_table_as
-- servercopy: true
-- use: customers.phone copy
CREATE TEMP TABLE leak_tmp AS SELECT phone FROM customers

-- name: ctas_shadow
-- vector: temporary table shadowing a real table name
-- kind: create_table_as
-- servercopy: true
-- use: customers.email copy
CREATE TEMP TABLE customers AS SELECT email AS id FROM public.customers

-- name: select_into
-- vector: SELECT INTO
-- kind: create_table_as
-- servercopy: true
-- use: customers.email copy
SELECT email INTO TEMP leak_into FROM customers

-- name: create_view
-- vector: CREATE VIEW
-- kind: create_view
-- servercopy: true
-- use: customers.email copy
CREATE VIEW leak_view AS SELECT email FROM customers

-- name: create_matview
-- vector: CREATE MATERIALIZED VIEW
-- kind: create_view
-- servercopy: true
-- use: customers.full_name copy
CREATE MATERIALIZED VIEW leak_mv AS SELECT full_name FROM customers

-- name: copy_table_stdout
-- vector: COPY table TO STDOUT
-- kind: copy_to
-- returns: true
-- out: direct customers.id
-- out: direct customers.full_name
-- out: direct customers.email
-- out: direct customers.phone
-- out: direct customers.birth_date
-- out: direct customers.country
-- out: direct customers.marketing_opt_in
-- out: direct customers.created_at
COPY customers TO STDOUT

-- name: copy_query_stdout_csv
-- vector: COPY (query) TO STDOUT as CSV
-- kind: copy_to
-- out: direct customers.email
-- out: derived customers.full_name
COPY (SELECT email, lower(full_name) FROM customers) TO STDOUT WITH (FORMAT csv)

-- name: copy_columns_binary
-- vector: binary COPY of classified columns
-- kind: copy_to
-- out: direct customers.email
-- out: direct customers.phone
COPY customers (email, phone) TO STDOUT (FORMAT binary)

-- name: copy_to_file
-- vector: COPY TO a server file
-- kind: copy_to
-- returns: false
-- servercopy: true
-- use: customers.email copy
COPY customers TO '/tmp/pgveil_leak.csv'

-- name: copy_to_program
-- vector: COPY TO PROGRAM
-- kind: copy_to
-- opaque: true
-- servercopy: true
COPY (SELECT body FROM messages) TO PROGRAM 'cat > /dev/null'

-- name: copy_header_csv
-- vector: COPY with HEADER
-- out: direct messages.id
-- out: direct messages.customer_id
-- out: direct messages.to_phone
-- out: direct messages.body
-- out: direct messages.created_at
COPY messages TO STDOUT WITH (FORMAT csv, HEADER)

-- name: copy_from_file
-- vector: COPY FROM a server file
-- kind: copy_from
-- opaque: true
COPY tickets FROM '/tmp/pgveil_input.csv'

-- name: copy_from_stdin
-- vector: baseline: COPY FROM STDIN writes columns
-- kind: copy_from
-- opaque: false
-- use: tickets.subject write
COPY tickets (customer_id, subject, body, status) FROM STDIN

-- name: prepare_select
-- vector: SQL PREPARE
-- kind: prepare
-- outputs: nil
-- inner-out: direct customers.email
-- params: 0
PREPARE leak_p(int) AS SELECT email FROM customers WHERE id = $1

-- name: execute_prepared
-- vector: SQL EXECUTE (the proxy maps the name to the PREPARE's lineage)
-- kind: execute
-- returns: true
EXECUTE leak_p(1)

-- name: execute_argument_from_table
-- vector: EXECUTE with an argument computed from table data
-- kind: execute
-- opaque: true
EXECUTE leak_p((SELECT id FROM customers LIMIT 1)::int)

-- name: declare_cursor
-- vector: DECLARE CURSOR
-- kind: declare_cursor
-- inner-out: direct customers.phone
DECLARE leak_c CURSOR WITH HOLD FOR SELECT phone FROM customers

-- name: fetch_cursor
-- vector: FETCH from a cursor (the proxy maps it to DECLARE's lineage)
-- kind: fetch
-- returns: true
FETCH 10 FROM leak_c

-- name: move_cursor
-- vector: MOVE returns no rows
-- kind: fetch
-- returns: false
MOVE 5 IN leak_c

-- name: close_cursor
-- vector: CLOSE
-- kind: close_cursor
CLOSE leak_c

-- name: explain_plain
-- vector: plain EXPLAIN shows the query's literals, not stored values
-- kind: explain
-- out: none
-- opaque: false
-- use: customers.email filter
EXPLAIN SELECT email FROM customers WHERE email = 'a@example.com'

-- name: explain_analyze
-- vector: EXPLAIN ANALYZE executes the statement
-- kind: explain
-- out: none
-- use: customers.email output
-- inner-out: direct customers.email
EXPLAIN ANALYZE SELECT email FROM customers

-- name: explain_analyze_verbose
-- vector: EXPLAIN (ANALYZE, VERBOSE) shows expressions, not values
-- kind: explain
-- out: none
-- inner-out: derived customers.email
EXPLAIN (ANALYZE, VERBOSE) SELECT lower(email) FROM customers

-- name: explain_analyze_ctas
-- vector: EXPLAIN ANALYZE of a server-side copy
-- kind: explain
-- servercopy: true
EXPLAIN (ANALYZE) CREATE TABLE leak_explain AS SELECT email FROM customers

-- name: explain_analyze_false
-- vector: EXPLAIN (ANALYZE false) does not execute
-- kind: explain
-- servercopy: false
EXPLAIN (ANALYZE false) CREATE TABLE leak_explain2 AS SELECT email FROM customers

-- name: do_block
-- vector: DO block runs arbitrary code
-- kind: do
-- opaque: true
DO $$ BEGIN RAISE NOTICE '%', (SELECT email FROM customers LIMIT 1); END $$

-- name: call_procedure
-- vector: CALL of a procedure
-- kind: call
-- opaque: true
CALL refresh_everything()

-- name: fn_query_to_xml
-- vector: query_to_xml runs SQL given as text
-- opaque: true
-- out: unknown
SELECT query_to_xml('select email from customers', true, false, '')

-- name: fn_table_to_xml
-- vector: table_to_xml reads a table by name
-- opaque: true
-- out: unknown
SELECT table_to_xml('customers', true, false, '')

-- name: fn_cursor_to_xml
-- vector: cursor_to_xml reads a cursor
-- opaque: true
-- out: unknown
SELECT cursor_to_xml('leak_c', 10, true, false, '')

-- name: fn_schema_to_xml
-- vector: schema_to_xml reads every table
-- opaque: true
SELECT schema_to_xml('public', true, false, '')

-- name: fn_database_to_xml
-- vector: database_to_xml reads every table
-- opaque: true
SELECT database_to_xml(true, false, '')

-- name: fn_query_to_xmlschema
-- vector: query_to_xmlschema runs SQL given as text
-- opaque: true
SELECT query_to_xmlschema('select email from customers', true, false, '')

-- name: fn_ts_stat
-- vector: ts_stat runs SQL given as text
-- opaque: true
-- outputs: nil
SELECT * FROM ts_stat('SELECT to_tsvector(body) FROM messages')

-- name: fn_pg_read_file
-- vector: pg_read_file reads a server file
-- opaque: true
SELECT pg_read_file('postgresql.conf')

-- name: fn_lo_get
-- vector: large objects
-- opaque: true
SELECT lo_get(1234)

-- name: fn_dblink
-- vector: dblink queries another database
-- opaque: true
SELECT * FROM dblink('dbname=app', 'select email from customers') AS t(email text)

-- name: fn_pg_ls_dir
-- vector: server file listing
-- opaque: true
SELECT * FROM pg_ls_dir('.')

-- name: fn_current_query
-- vector: current_query()
-- opaque: true
SELECT current_query()

-- name: fn_user_function
-- vector: a function that does not exist in the snapshot may read anything
-- opaque: true
-- out: unknown customers.id
SELECT lookup_secret(id) FROM customers

-- name: fn_ts_rewrite_query
-- vector: ts_rewrite(tsquery, text) runs its second argument as a query
-- opaque: true
SELECT ts_rewrite('a'::tsquery, $$SELECT 'a'::tsquery, plainto_tsquery(email) FROM customers LIMIT 1$$)::text

-- name: fn_set_config
-- vector: set_config stores a value in a session setting
-- servercopy: true
-- use: customers.email copy
-- out: derived customers.email
SELECT set_config('app.leak', (SELECT email FROM customers LIMIT 1), false)

-- name: fn_current_setting
-- vector: reading a session setting back (the set_config copy is what policies refuse)
-- out: none
SELECT current_setting('app.leak', true)

-- name: fn_setval
-- vector: setval keeps a value in a sequence (currval and last_value read it back)
-- servercopy: true
-- use: customers.phone copy
-- out: derived customers.phone
SELECT setval('leak_seq', length(phone)) FROM customers

-- name: fn_setval_qualified
-- vector: pg_catalog.setval, 7 bytes of a value per call
-- servercopy: true
-- use: customers.email copy
-- out: derived customers.email
SELECT pg_catalog.setval('leak_seq', ('x' || encode(substr(convert_to(email, 'UTF8'), 1, 7), 'hex'))::bit(56)::bigint) FROM customers

-- name: fn_nextval_computed_name
-- vector: nextval of a sequence named from data (which sequence moved tells the value)
-- servercopy: true
-- use: customers.email copy
-- out: derived customers.email
SELECT nextval(('seq_' || left(email, 1))::regclass) FROM customers

-- name: fn_nextval_literal
-- vector: baseline: nextval of a named sequence stores nothing from data
-- servercopy: false
-- out: none
SELECT nextval('leak_seq')

-- name: fn_setseed
-- vector: setseed keeps a value in the random generator (random() reveals it)
-- servercopy: true
-- use: customers.email copy
-- out: derived customers.email
SELECT setseed(ascii(email) / 256.0) FROM customers

-- name: fn_advisory_lock_key
-- vector: an advisory lock keyed by data (pg_locks shows the key to every session)
-- servercopy: true
-- use: customers.email copy
-- out: derived customers.email
SELECT pg_try_advisory_xact_lock(length(email), ascii(email)) FROM customers

-- name: fn_advisory_xact_lock_key
-- vector: a transaction-scoped advisory lock keyed by data
-- servercopy: true
-- use: customers.phone copy
SELECT pg_advisory_xact_lock(length(phone)) FROM customers

-- name: fn_pg_notify
-- vector: pg_notify with a classified payload (listeners read it)
-- servercopy: true
-- use: customers.email copy
-- out: derived customers.email
SELECT pg_notify('leak', email) FROM customers

-- name: fn_pg_notify_channel
-- vector: pg_notify on a channel named from data (a masked listener still sees channel names)
-- servercopy: true
-- use: customers.email copy
-- out: derived customers.email
SELECT pg_notify('c_' || left(email, 1), '') FROM customers

-- name: notify_payload
-- vector: NOTIFY with a payload
-- kind: notify
NOTIFY leak, 'payload'

-- name: listen
-- vector: LISTEN
-- kind: listen
LISTEN leak

-- name: catalog_pg_stats
-- vector: pg_stats holds most common values of every column
-- catalogdata: true
-- out: unknown pg_catalog.pg_stats.most_common_vals
SELECT most_common_vals FROM pg_stats WHERE tablename = 'customers'

-- name: catalog_pg_stats_star
-- vector: SELECT * from pg_catalog.pg_stats
-- catalogdata: true
SELECT * FROM pg_catalog.pg_stats

-- name: catalog_pg_stat_activity
-- vector: pg_stat_activity shows other sessions' queries and addresses
-- catalogdata: true
-- out: unknown pg_catalog.pg_stat_activity.query
-- out: unknown pg_catalog.pg_stat_activity.client_addr
SELECT query, client_addr FROM pg_stat_activity

-- name: catalog_pg_statistic
-- vector: pg_statistic holds column values
-- catalogdata: true
-- out: unknown pg_catalog.pg_statistic.stavalues1
SELECT stavalues1 FROM pg_statistic

-- name: catalog_stat_get_activity
-- vector: pg_stat_get_activity()
-- catalogdata: true
-- opaque: true
SELECT * FROM pg_stat_get_activity(NULL)

-- name: catalog_prepared_statements
-- vector: own session's prepared statements are not catalog data
-- catalogdata: false
SELECT name, statement FROM pg_prepared_statements

-- name: unknown_table_star
-- vector: unknown relation: the result shape is unknown
-- outputs: nil
-- returns: true
SELECT * FROM no_such_table

-- name: unknown_table_column
-- vector: unknown relation: its columns are unknown
-- out: unknown
SELECT email FROM no_such_table

-- name: unparseable
-- vector: statement the parser cannot parse
-- kind: unknown
-- opaque: true
-- returns: true
SELEC email FROM customers

-- name: unparseable_string
-- vector: unterminated literal
-- kind: unknown
-- opaque: true
SELECT 'unterminated

-- name: multi_statement
-- vector: several statements in one Query message
-- statements: 2
-- out: direct customers.email
SELECT 1; SELECT email FROM customers

-- name: set_role
-- vector: SET ROLE never widens the identity
-- kind: set
SET ROLE postgres

-- name: set_session_authorization
-- vector: SET SESSION AUTHORIZATION
-- kind: set
SET SESSION AUTHORIZATION DEFAULT

-- name: reset_role
-- vector: RESET ROLE
-- kind: set
RESET ROLE

-- name: set_search_path
-- vector: search_path changes name resolution
-- kind: set
SET search_path = pg_temp, public

-- name: show_setting
-- vector: SHOW
-- kind: show
-- out: none
SHOW search_path

-- name: distinct_on
-- vector: DISTINCT ON a classified column
-- out: direct customers.id
-- use: customers.email group,order
SELECT DISTINCT ON (email) id FROM customers ORDER BY email

-- name: order_by_classified
-- vector: ORDER BY a classified column (order inference)
-- out: direct customers.id
-- use: customers.email order
SELECT id FROM customers ORDER BY email LIMIT 1

-- name: where_like_inference
-- vector: predicate inference (reported as filter)
-- out: direct customers.id
-- use: customers.email filter
SELECT id FROM customers WHERE email LIKE 'a%'

-- name: group_by_classified
-- vector: GROUP BY a classified column
-- out: direct customers.email
-- out: none
-- use: customers.email group
SELECT email, count(*) FROM customers GROUP BY email

-- name: rollup_grouping
-- vector: GROUPING SETS and grouping()
-- out: direct customers.country
-- out: derived customers.country
-- out: none
SELECT country, grouping(country), count(*) FROM customers GROUP BY ROLLUP (country)

-- name: for_update
-- vector: locking clause
-- out: direct customers.email
SELECT email FROM customers FOR UPDATE

-- name: params_in_where
-- vector: parameters
-- out: direct customers.email
-- params: 2
SELECT email FROM customers WHERE id = $1 OR country = $2

-- name: comment_with_value
-- vector: values in comments must not reach audit text
-- out: none
/* victim@example.com */ SELECT 1 -- +1 555 0100

-- name: join_on_classified
-- vector: joining on a classified column
-- out: direct customers.id
-- use: customers.email join
-- use: invoices.billing_email join
SELECT c.id FROM customers c JOIN invoices i ON i.billing_email = c.email

-- name: scalar_subquery_order
-- vector: ORDER BY a scalar subquery
-- out: direct customers.id
-- use: messages.body order
SELECT id FROM customers c ORDER BY (SELECT max(body) FROM messages m WHERE m.customer_id = c.id)

-- name: cte_search_cycle
-- vector: SEARCH and CYCLE columns carry the values they order by (PostgreSQL 14+)
-- out: direct customers.id
-- out: direct customers.email
-- out: derived customers.email
-- out: derived customers.id
-- out: derived customers.id
WITH RECURSIVE t(id, e) AS (SELECT id, email FROM customers WHERE id = 1 UNION ALL SELECT id, e FROM t WHERE false) SEARCH DEPTH FIRST BY e SET ord CYCLE id SET is_cycle USING path SELECT * FROM t

-- name: system_columns
-- vector: baseline: system columns hold no data values
-- out: none
-- out: none
-- out: none
SELECT ctid, c.xmin, tableoid FROM customers c

-- name: copy_legacy_csv
-- vector: COPY with the pre-9.0 option syntax
-- kind: copy_to
-- out: direct customers.email
COPY customers (email) TO STDOUT CSV HEADER

-- name: window_frame_over_classified
-- vector: sum over a window ordered by a classified column
-- out: derived invoices.amount_cents
-- use: invoices.billing_email order
SELECT sum(amount_cents) OVER (ORDER BY billing_email ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM invoices

-- name: limit_subquery
-- vector: a subquery in LIMIT probes data
-- out: direct products.name
-- use: customers.email filter
SELECT name FROM products LIMIT (SELECT count(*) FROM customers WHERE email LIKE 'a%')

-- name: copy_insert_returning
-- vector: COPY (INSERT ... SELECT ... RETURNING) TO STDOUT copies and returns
-- kind: copy_to
-- servercopy: true
-- out: derived customers.email tickets.subject
COPY (INSERT INTO tickets (customer_id, subject, body, status) SELECT id, email, 'x', 'open' FROM customers WHERE false RETURNING subject) TO STDOUT

-- name: cte_insert_copy
-- vector: a data-modifying CTE copies data while the statement returns nothing personal
-- kind: select
-- servercopy: true
-- use: customers.email copy
-- out: none
WITH x AS (INSERT INTO tickets (customer_id, subject, body, status) SELECT id, email, 'x', 'open' FROM customers WHERE false RETURNING 1) SELECT 1

-- name: ctas_table_syntax
-- vector: CREATE TABLE AS TABLE
-- kind: create_table_as
-- servercopy: true
-- use: customers.phone copy
CREATE TABLE leak_table_copy AS TABLE customers

-- name: copy_csv_delimiter_split
-- vector: COPY CSV with a custom DELIMITER: a masker splitting on commas would pass part of a free-text field as another, unmasked field
-- kind: copy_to
-- out: direct messages.body
-- out: direct messages.id
COPY (SELECT body, id FROM messages) TO STDOUT WITH (FORMAT csv, DELIMITER '|')

-- name: copy_csv_quote_space_delimiter
-- vector: COPY CSV with a custom QUOTE and a space as DELIMITER
-- kind: copy_to
-- out: direct tickets.body
-- out: direct tickets.id
COPY (SELECT body, id FROM tickets) TO STDOUT WITH (FORMAT csv, QUOTE '''', DELIMITER ' ')

-- name: copy_text_delimiter_null
-- vector: COPY text with a custom DELIMITER and NULL string
-- kind: copy_to
-- out: direct customers.full_name
-- out: direct customers.id
-- out: direct customers.email
COPY (SELECT full_name, id, email FROM customers) TO STDOUT WITH (DELIMITER ',', NULL 'x')

-- name: copy_legacy_delimiter
-- vector: COPY with a DELIMITER in the pre-9.0 option syntax
-- kind: copy_to
-- out: direct messages.body
-- out: direct messages.id
COPY messages (body, id) TO STDOUT CSV DELIMITER ';' QUOTE '$'

-- name: copy_encoding
-- vector: COPY with ENCODING: bytes pgveil would have to parse in another encoding
-- kind: copy_to
-- opaque: true
COPY (SELECT body FROM messages) TO STDOUT WITH (ENCODING 'SJIS')

-- name: scs_off_backslash_quote
-- vector: standard_conforming_strings off: \' no longer ends a plain literal, so what pgveil's parser takes for string content is SQL to Postgres
-- statements: 3
-- kind: select
-- opaque: true
BEGIN;
SET LOCAL standard_conforming_strings = off;
SELECT 'a\', ' AS x, lower(email) FROM customers --'

-- name: scs_off_copy_option
-- vector: standard_conforming_strings off: a COPY option with a backslash means another delimiter to Postgres than to pgveil's COPY masker
-- statements: 3
-- kind: copy_to
-- opaque: true
BEGIN;
SET LOCAL standard_conforming_strings = off;
COPY (SELECT id, full_name FROM customers) TO STDOUT (FORMAT csv, DELIMITER '\x2c')

-- name: scs_backslash_in_literal
-- vector: a backslash that is not before a quote ends every literal where Postgres ends it, whatever standard_conforming_strings says
-- kind: select
-- opaque: false
-- out: derived customers.email
SELECT lower(email) FROM customers WHERE full_name ~ '^\w+ \w+$' OR email LIKE 'a\_b%'

-- name: encoding_sjis_trail_backslash
-- vector: client_encoding SJIS: the UTF-8 bytes of Õ and a backslash (C3 95 5C) are two SJIS characters, so the backslash that escapes the quote for pgveil's parser is not there for Postgres (the proxy refuses non-ASCII text in such encodings)
-- statements: 3
-- kind: select
-- out: none
-- out: none
BEGIN;
SET LOCAL client_encoding = 'SJIS';
SELECT E'Õ\' AS x, lower(email) AS y FROM customers --', 'z'

-- name: set_names
-- vector: SET NAMES changes client_encoding, which decides how Postgres reads the bytes of the statements after it
-- kind: set
-- changes-encoding: true
SET NAMES 'SJIS'

-- name: set_config_client_encoding
-- vector: set_config changes client_encoding from inside a query
-- kind: select
-- changes-encoding: true
SELECT set_config('client_encoding', 'SJIS', false)

-- name: set_config_dynamic_name
-- vector: set_config with a computed setting name may change client_encoding
-- kind: select
-- changes-encoding: true
SELECT set_config(lower('CLIENT_ENCODING'), 'SJIS', false)

-- name: rollback_reverts_settings
-- vector: ROLLBACK reverts a SET client_encoding made inside the transaction
-- kind: transaction
-- changes-encoding: true
ROLLBACK

-- name: set_search_path_keeps_encoding
-- vector: other settings leave client_encoding alone
-- kind: set
-- changes-encoding: false
SET search_path = public

-- name: grammar_system_user_column
-- vector: grammar drift: pgveil's parser reads a bare system_user as PostgreSQL 16's SYSTEM_USER function, PostgreSQL 15 as a column name
-- kind: select
-- out: derived customers.email
SELECT lower(system_user) FROM (SELECT email AS system_user FROM customers) t

-- name: grammar_system_user_function
-- vector: with no column of that name in scope, system_user is the login method, not personal data
-- kind: select
-- out: none
SELECT system_user

-- name: ddl_create_trigger
-- vector: a trigger runs user code (a function that reads customers) on later writes pgveil does not see
-- kind: ddl
-- opaque: true
CREATE TRIGGER leak_trg BEFORE INSERT ON leak_t FOR EACH ROW EXECUTE FUNCTION get_secret()

-- name: ddl_create_rule
-- vector: a rewrite rule changes later statements unseen (a qual that tests personal data)
-- kind: ddl
-- opaque: true
CREATE RULE leak_rule AS ON INSERT TO leak_t WHERE EXISTS (SELECT 1 FROM customers WHERE email LIKE 'a%') DO INSTEAD NOTHING

-- name: ddl_create_policy
-- vector: a row-level security policy whose condition tests personal data (the row count of later reads answers it)
-- kind: ddl
-- opaque: true
CREATE POLICY leak_pol ON leak_t USING (EXISTS (SELECT 1 FROM customers WHERE email LIKE 'a%'))

-- name: ddl_enable_trigger
-- vector: enabling a trigger
-- kind: ddl
-- opaque: true
ALTER TABLE leak_t ENABLE TRIGGER ALL

-- name: ddl_create_function_shadow
-- vector: a function named like a builtin, called before the snapshot knows it (search_path ahead of pg_catalog)
-- kind: ddl
-- opaque: true
CREATE FUNCTION leak_schema.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT email FROM customers LIMIT 1 $$

-- name: ddl_create_operator
-- vector: an operator whose function reads customers, used before the snapshot knows it
-- kind: ddl
-- opaque: true
CREATE OPERATOR pg_temp.@@@ (function = pg_temp.leakf, leftarg = text, rightarg = text)

-- name: ddl_create_cast
-- vector: a cast that runs a user function
-- kind: ddl
-- opaque: true
CREATE CAST (text AS leak_type) WITH FUNCTION pg_temp.leakf(text)

-- name: operator_pg_temp
-- vector: an operator of the session's temporary schema (the snapshot knows it as pg_temp_N, after a refresh)
-- opaque: true
SELECT 'a' OPERATOR(pg_temp.@@@) 'b'

-- name: cast_pg_temp_type
-- vector: a cast to a type of the session's temporary schema
-- opaque: true
SELECT 'x'::pg_temp.leak_type

-- name: ddl_create_domain
-- vector: a domain whose CHECK stores the value it checks (set_config), run by every cast to it
-- kind: ddl
-- opaque: true
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (set_config('my.y', VALUE, false) IS NOT NULL)

-- name: ddl_alter_domain
-- vector: a CHECK added to a domain
-- kind: ddl
-- opaque: true
ALTER DOMAIN checked_email ADD CHECK (set_config('my.y', VALUE, false) IS NOT NULL)

-- name: domain_in_coldeflist
-- vector: a user domain in a column definition list (its CHECK runs on the value)
-- opaque: true
SELECT * FROM jsonb_to_record(jsonb_build_object('a', (SELECT email FROM customers LIMIT 1))) AS r(a checked_email)

-- name: domain_array_cast
-- vector: a cast to an array of a user domain
-- opaque: true
SELECT ARRAY[email]::_checked_email FROM customers

-- name: recursive_union_guess
-- vector: a recursive WITH's UNION drops a step row equal to an earlier row: with a guess as the base row the count answers it (review 5)
-- use: customers.email group,filter
WITH RECURSIVE r(x) AS (SELECT 'guess@example.com'::text UNION SELECT email FROM customers) SELECT count(*) FROM r

-- name: recursive_cycle_mark
-- vector: a CYCLE mark says whether a row's cycle columns equal an earlier row's: with a guess as the base row it answers the guess
-- use: customers.phone group,filter
-- out: derived customers.phone
WITH RECURSIVE r(x, n) AS (SELECT '+1 555'::text, 0 UNION ALL SELECT c.phone, r.n + 1 FROM r, customers c WHERE r.n < 1) CYCLE x SET is_cycle USING path SELECT is_cycle FROM r

-- name: name_outer_column_over_inner_relation
-- vector: an unqualified name is a column of any query level before it is a nearer level's relation name (a whole row)
-- out: direct customers.id
-- out: direct customers.email
SELECT c.id, (SELECT email FROM (SELECT 1 AS z) AS email) AS leaked FROM public.customers c ORDER BY c.id LIMIT 3

-- name: with_recursive_forward_reference
-- vector: in WITH RECURSIVE a CTE may name one defined later in the list, shadowing a table of that name
-- out: derived customers.id
-- out: derived customers.email
-- out: derived customers.full_name
-- out: none
-- out: derived customers.birth_date
WITH RECURSIVE a AS (SELECT * FROM products), products AS (SELECT id+0, email||'', full_name||'', 1::bigint, birth_date::text FROM customers) SELECT * FROM a ORDER BY 1 LIMIT 3

-- name: composite_expression_in_from
-- vector: COALESCE/CAST of a composite in FROM expands to its columns, shifting the result columns against the analyzer's list
-- outputs: nil
SELECT s.*, x.* FROM (SELECT email||'' AS e, full_name||'' AS n FROM customers ORDER BY id LIMIT 2) s, COALESCE(NULL::public.customers) x

-- name: composite_cast_in_from
-- vector: CAST of a composite in FROM expands to its columns
-- outputs: nil
SELECT s.*, x.* FROM (SELECT email||'' AS e FROM customers ORDER BY id LIMIT 2) s, CAST(NULL AS public.customers) x

-- name: unnest_rows_in_from
-- vector: unnest of an array of rows in FROM expands each element to its columns
-- outputs: nil
SELECT s.*, x.* FROM (SELECT email||'' AS e FROM customers ORDER BY id LIMIT 2) s, unnest(ARRAY[NULL::public.customers]) x

-- name: unnest_rows_from_cte_in_from
-- vector: unnest of a CTE column that holds an array of rows
-- outputs: nil
WITH a AS (SELECT ARRAY[NULL::public.customers] AS arr) SELECT s.*, u.* FROM (SELECT email||'' AS e FROM customers ORDER BY id LIMIT 2) s, a, unnest(a.arr) u

-- name: unnest_multi_rows_in_from
-- vector: multi-argument unnest expands an array of rows too
-- outputs: nil
SELECT u.* FROM unnest(ARRAY[NULL::public.customers], ARRAY[1]) u

-- name: unnest_scalar_in_from
-- vector: baseline: unnest of a scalar array keeps its one column
-- out: derived customers.email
SELECT u.* FROM customers c, unnest(string_to_array(c.email, '@')) u
