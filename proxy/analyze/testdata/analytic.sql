-- Analytic statement corpus: realistic reporting queries over the demo
-- schema (rules/demo). The test asserts that outputs not derived from
-- personal data carry no classified source and are not Unknown, so masking
-- does not over-refuse, and that the listed outputs do carry one.
--
-- Format as in hostile.sql. Directive:
--   pii: the 1-based output positions derived from classified columns, or
--        "none"

-- name: customers_per_country
-- pii: none
SELECT country, count(*) AS customers FROM customers GROUP BY country ORDER BY customers DESC

-- name: signups_per_day
-- pii: none
SELECT date_trunc('day', created_at) AS day, count(*) FROM customers GROUP BY 1 ORDER BY 1

-- name: signups_per_month_country
-- pii: none
SELECT to_char(created_at, 'YYYY-MM') AS month, country, count(*) FROM customers GROUP BY month, country ORDER BY month, country

-- name: opt_in_rate
-- pii: none
SELECT country, avg(marketing_opt_in::int) AS opt_in_rate FROM customers GROUP BY country

-- name: messages_per_day
-- pii: none
SELECT created_at::date AS day, count(*) AS sms FROM messages GROUP BY day ORDER BY day

-- name: messages_per_customer_top10
-- pii: none
SELECT customer_id, count(*) AS n FROM messages GROUP BY customer_id ORDER BY n DESC LIMIT 10

-- name: avg_message_length
-- pii: 1
SELECT avg(length(body)) FROM messages

-- name: revenue_per_currency
-- pii: none
SELECT currency, sum(amount_cents) / 100.0 AS revenue FROM invoices GROUP BY currency

-- name: revenue_per_month
-- pii: none
SELECT date_trunc('month', issued_at) AS month, sum(amount_cents) FROM invoices GROUP BY 1 ORDER BY 1

-- name: revenue_per_country
-- pii: none
SELECT c.country, sum(i.amount_cents) AS cents FROM invoices i JOIN customers c ON c.id = i.customer_id GROUP BY c.country ORDER BY cents DESC

-- name: top_customers_by_revenue
-- pii: none
SELECT i.customer_id, sum(i.amount_cents) AS total FROM invoices i GROUP BY i.customer_id ORDER BY total DESC LIMIT 20

-- name: top_customers_with_email
-- pii: 2
SELECT c.id, c.email, sum(i.amount_cents) AS total FROM customers c JOIN invoices i ON i.customer_id = c.id GROUP BY c.id, c.email ORDER BY total DESC LIMIT 10

-- name: tickets_by_status
-- pii: none
SELECT status, count(*) FROM tickets GROUP BY status

-- name: tickets_open_age
-- pii: none
SELECT id, now() - created_at AS age FROM tickets WHERE status = 'open' ORDER BY age DESC

-- name: tickets_per_week
-- pii: none
SELECT date_trunc('week', created_at) AS week, status, count(*) FROM tickets GROUP BY 1, 2 ORDER BY 1, 2

-- name: ticket_subjects
-- pii: 2
SELECT id, subject FROM tickets WHERE status = 'open'

-- name: failed_logins_per_day
-- pii: none
SELECT created_at::date AS day, count(*) FILTER (WHERE NOT succeeded) AS failed, count(*) AS total FROM login_events GROUP BY 1 ORDER BY 1

-- name: login_success_rate
-- pii: none
SELECT customer_id, avg(succeeded::int) AS rate FROM login_events GROUP BY customer_id HAVING count(*) > 3

-- name: distinct_ips_per_customer
-- pii: 2
SELECT customer_id, count(DISTINCT ip) FROM login_events GROUP BY customer_id

-- name: last_login
-- pii: none
SELECT customer_id, max(created_at) AS last_login FROM login_events WHERE succeeded GROUP BY customer_id

-- name: products_by_category
-- pii: none
SELECT category, count(*), avg(price_cents) FROM products GROUP BY category ORDER BY 2 DESC

-- name: top_products
-- pii: none
SELECT p.name, sum(l.quantity) AS units FROM invoice_lines l JOIN products p ON p.id = l.product_id GROUP BY p.name ORDER BY units DESC LIMIT 10

-- name: product_revenue
-- pii: none
SELECT p.sku, p.name, sum(l.quantity * l.unit_price_cents) AS revenue FROM products p JOIN invoice_lines l ON l.product_id = p.id GROUP BY p.sku, p.name

-- name: invoice_line_totals
-- pii: none
SELECT invoice_id, sum(quantity * unit_price_cents) AS total, count(*) AS lines FROM invoice_lines GROUP BY invoice_id

-- name: funnel_signup_to_purchase
-- pii: none
WITH signed AS (SELECT id, created_at FROM customers), bought AS (SELECT DISTINCT customer_id FROM invoices) SELECT count(*) AS signed_up, count(b.customer_id) AS purchased FROM signed s LEFT JOIN bought b ON b.customer_id = s.id

-- name: funnel_steps
-- pii: none
WITH steps AS (SELECT c.id, EXISTS (SELECT 1 FROM login_events l WHERE l.customer_id = c.id AND l.succeeded) AS logged_in, EXISTS (SELECT 1 FROM messages m WHERE m.customer_id = c.id) AS messaged, EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = c.id) AS paid FROM customers c) SELECT count(*), count(*) FILTER (WHERE logged_in), count(*) FILTER (WHERE messaged), count(*) FILTER (WHERE paid) FROM steps

-- name: cohort_retention
-- pii: none
WITH cohort AS (SELECT id, date_trunc('month', created_at) AS m FROM customers) SELECT c.m, date_trunc('month', l.created_at) AS active_month, count(DISTINCT l.customer_id) FROM cohort c JOIN login_events l ON l.customer_id = c.id GROUP BY 1, 2 ORDER BY 1, 2

-- name: running_revenue
-- pii: none
SELECT issued_at, sum(amount_cents) OVER (ORDER BY issued_at) AS running FROM invoices ORDER BY issued_at

-- name: rank_customers_per_country
-- pii: none
SELECT country, id, rank() OVER (PARTITION BY country ORDER BY created_at) FROM customers

-- name: moving_average_sms
-- pii: none
SELECT day, avg(n) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) FROM (SELECT created_at::date AS day, count(*) AS n FROM messages GROUP BY 1) d

-- name: lag_revenue
-- pii: none
SELECT month, total, total - lag(total) OVER (ORDER BY month) AS delta FROM (SELECT date_trunc('month', issued_at) AS month, sum(amount_cents) AS total FROM invoices GROUP BY 1) t

-- name: ntile_spend
-- pii: none
SELECT customer_id, ntile(4) OVER (ORDER BY sum(amount_cents)) FROM invoices GROUP BY customer_id

-- name: first_ticket_per_customer
-- pii: none
SELECT DISTINCT ON (customer_id) customer_id, id, created_at FROM tickets ORDER BY customer_id, created_at

-- name: customers_without_invoices
-- pii: none
SELECT c.id, c.country FROM customers c WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = c.id)

-- name: customers_with_many_tickets
-- pii: none
SELECT customer_id FROM tickets GROUP BY customer_id HAVING count(*) >= 3

-- name: age_buckets
-- pii: 1
SELECT width_bucket(extract(year FROM age(birth_date)), 0, 100, 10) AS bucket, count(*) FROM customers GROUP BY 1

-- name: email_domains
-- pii: 1
SELECT split_part(email, '@', 2) AS domain, count(*) FROM customers GROUP BY 1 ORDER BY 2 DESC

-- name: sms_per_customer_country
-- pii: none
SELECT c.country, count(m.id) FROM customers c LEFT JOIN messages m ON m.customer_id = c.id GROUP BY c.country

-- name: avg_invoice_per_country_currency
-- pii: none
SELECT c.country, i.currency, round(avg(i.amount_cents)) FROM invoices i JOIN customers c USING (id) GROUP BY ROLLUP (c.country, i.currency)

-- name: union_event_counts
-- pii: none
SELECT 'sms' AS kind, count(*) FROM messages UNION ALL SELECT 'ticket', count(*) FROM tickets UNION ALL SELECT 'login', count(*) FROM login_events

-- name: recent_activity_ids
-- pii: none
SELECT customer_id, created_at FROM messages WHERE created_at > now() - interval '7 days' UNION SELECT customer_id, created_at FROM tickets WHERE created_at > now() - interval '7 days' ORDER BY 2 DESC

-- name: percentile_invoice
-- pii: none
SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY amount_cents) FROM invoices

-- name: median_price_per_category
-- pii: none
SELECT category, percentile_disc(0.5) WITHIN GROUP (ORDER BY price_cents) FROM products GROUP BY category

-- name: hour_of_day_logins
-- pii: none
SELECT extract(hour FROM created_at) AS h, count(*) FROM login_events GROUP BY h ORDER BY h

-- name: recursive_calendar
-- pii: none
WITH RECURSIVE days(d) AS (SELECT date '2026-01-01' UNION ALL SELECT d + 1 FROM days WHERE d < date '2026-01-31') SELECT d, (SELECT count(*) FROM invoices WHERE issued_at = d) FROM days

-- name: generate_series_join
-- pii: none
SELECT g.day, count(m.id) FROM generate_series(date '2026-10-01', date '2026-10-31', interval '1 day') AS g(day) LEFT JOIN messages m ON m.created_at::date = g.day GROUP BY g.day ORDER BY g.day

-- name: lateral_last_invoice
-- pii: none
SELECT c.id, li.amount_cents FROM customers c LEFT JOIN LATERAL (SELECT amount_cents FROM invoices i WHERE i.customer_id = c.id ORDER BY issued_at DESC LIMIT 1) li ON true

-- name: jsonb_keys_stats
-- pii: 1
SELECT jsonb_object_keys(custom_fields) AS k, count(*) FROM tickets GROUP BY k

-- name: ticket_status_pivot
-- pii: none
SELECT customer_id, count(*) FILTER (WHERE status = 'open') AS open, count(*) FILTER (WHERE status = 'closed') AS closed FROM tickets GROUP BY customer_id

-- name: case_bucket_amounts
-- pii: none
SELECT CASE WHEN amount_cents < 1000 THEN 'small' WHEN amount_cents < 10000 THEN 'medium' ELSE 'large' END AS size, count(*) FROM invoices GROUP BY 1

-- name: coalesce_counts
-- pii: none
SELECT c.id, coalesce(t.n, 0) AS tickets FROM customers c LEFT JOIN (SELECT customer_id, count(*) AS n FROM tickets GROUP BY customer_id) t ON t.customer_id = c.id

-- name: products_never_sold
-- pii: none
SELECT p.id, p.sku FROM products p WHERE p.id NOT IN (SELECT product_id FROM invoice_lines)

-- name: customer_profile
-- pii: 2 3 4
SELECT c.id, c.full_name, c.email, c.phone, c.country FROM customers c WHERE c.id = $1

-- name: customer_messages
-- pii: 2
SELECT m.created_at, m.body FROM messages m WHERE m.customer_id = $1 ORDER BY m.created_at DESC LIMIT 50

-- name: support_ticket_view
-- pii: 2 3 4
SELECT t.id, t.subject, t.body, c.email, t.status FROM tickets t JOIN customers c ON c.id = t.customer_id WHERE t.id = $1

-- name: invoice_detail
-- pii: 2 3
SELECT i.id, i.billing_name, i.billing_email, i.amount_cents, i.currency, i.issued_at FROM invoices i WHERE i.id = $1

-- name: invoice_with_lines
-- pii: none
SELECT i.id, l.quantity, p.name, l.unit_price_cents FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id JOIN products p ON p.id = l.product_id WHERE i.id = $1

-- name: count_customers
-- pii: none
SELECT count(*) FROM customers

-- name: exists_customer
-- pii: none
SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)

-- name: daily_active_users
-- pii: none
SELECT created_at::date AS day, count(DISTINCT customer_id) AS dau FROM login_events WHERE succeeded GROUP BY 1 ORDER BY 1

-- name: share_of_total
-- pii: none
SELECT country, count(*) * 100.0 / sum(count(*)) OVER () AS pct FROM customers GROUP BY country

-- name: gap_between_logins
-- pii: none
SELECT customer_id, created_at - lag(created_at) OVER (PARTITION BY customer_id ORDER BY created_at) AS gap FROM login_events

-- name: values_join
-- pii: none
SELECT v.code, count(c.id) FROM (VALUES ('DE'), ('FR'), ('US')) AS v(code) LEFT JOIN customers c ON c.country = v.code GROUP BY v.code

-- name: cte_chain_report
-- pii: none
WITH paid AS (SELECT customer_id, sum(amount_cents) AS total FROM invoices GROUP BY customer_id), ranked AS (SELECT customer_id, total, dense_rank() OVER (ORDER BY total DESC) AS r FROM paid) SELECT r, count(*), sum(total) FROM ranked WHERE r <= 10 GROUP BY r ORDER BY r

-- name: intersect_ids
-- pii: none
SELECT customer_id FROM tickets INTERSECT SELECT customer_id FROM invoices

-- name: except_ids
-- pii: none
SELECT id FROM customers EXCEPT SELECT customer_id FROM login_events
