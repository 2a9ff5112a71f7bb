# Unit tests of the example policy. Run them with `pgveil check --config
# pgveil.yaml` (or `opa test policies/`).
package pgveil_test

import data.pgveil

# --- fixtures --------------------------------------------------------------

catalog := {
	"revision": "test",
	"unclassified": "allow",
	"categories": ["birth_date", "email", "free_text", "ip_address", "message_body", "name", "phone", "user_agent"],
}

who(user, roles) := {
	"user": user,
	"database": "demo",
	"application_name": "psql",
	"client_addr": "127.0.0.1",
	"tls": {"enabled": false},
	"roles": roles,
}

support := who("support_agent", ["staff", "support_agent"])

analyst := who("analyst", ["analyst", "analytics"])

marketing := who("marketing", ["analytics", "marketing"])

dpo := who("dpo", ["dpo", "staff"])

app := who("app_service", ["app_service"])

stranger := who("intern", ["intern"])

col(table, column, category, uses) := {"table": table, "column": column, "category": category, "uses": uses}

select(tables, columns) := {
	"kind": "select",
	"summary": "SELECT",
	"tables": tables,
	"columns": columns,
	"outputs": [],
	"returns": true,
	"opaque": false,
	"opaque_reason": "",
	"server_copy": false,
	"catalog_data": false,
	"copy_format": "",
}

in_put(identity, statement) := {
	"identity": identity,
	"statement": statement,
	"catalog": catalog,
	"now": "2026-11-01T10:00:00Z",
}

customers_contact := select(["public.customers"], [
	col("public.customers", "full_name", "name", ["output"]),
	col("public.customers", "email", "email", ["output"]),
	col("public.customers", "phone", "phone", ["output"]),
])

by_email := select(["public.customers"], [
	col("public.customers", "email", "email", ["output", "filter"]),
])

sms := select(["public.messages"], [
	col("public.messages", "body", "message_body", ["output"]),
	col("public.messages", "to_phone", "phone", ["output"]),
])

opaque := object.union(select([], []), {"kind": "do", "opaque": true, "opaque_reason": "DO block"})

no_personal := select(["public.products"], [])

# --- support_agent ---------------------------------------------------------

test_support_sees_names_and_masked_contacts if {
	d := pgveil.decision with input as in_put(support, customers_contact)
	d.allow
	"name" in d.reveal
	d.masks.phone == "last4"
	d.masks.email == "email"
}

test_support_gets_scrubbed_tickets_and_no_sms_bodies if {
	d := pgveil.decision with input as in_put(support, sms)
	d.allow
	d.masks.message_body == "redact"
	d.masks.free_text == "scrub"
}

test_support_may_look_up_by_email if {
	d := pgveil.decision with input as in_put(support, by_email)
	d.allow
}

test_support_refused_opaque if {
	d := pgveil.decision with input as in_put(support, opaque)
	not d.allow
	contains(d.reason, "cannot verify")
}

# --- analyst ------------------------------------------------------------------

test_analyst_gets_pseudonyms if {
	d := pgveil.decision with input as in_put(analyst, customers_contact)
	d.allow
	d.masks.email == "hash"
	d.masks.name == "null"
	d.masks.birth_date == "year"
	d.masks.ip_address == "ip_prefix"
	count(d.reveal) == 0
}

test_analyst_may_not_filter_on_email if {
	d := pgveil.decision with input as in_put(analyst, by_email)
	not d.allow
	contains(d.reason, "public.customers.email (filter)")
}

test_analyst_may_join_on_pseudonyms if {
	st := select(["public.customers", "public.invoices"], [
		col("public.customers", "email", "email", ["join"]),
		col("public.invoices", "billing_email", "email", ["join"]),
	])
	d := pgveil.decision with input as in_put(analyst, st)
	d.allow
}

test_analyst_may_not_group_by_birth_date if {
	st := select(["public.customers"], [col("public.customers", "birth_date", "birth_date", ["group", "output"])])
	d := pgveil.decision with input as in_put(analyst, st)
	not d.allow
	contains(d.reason, "birth_date (group)")
}

test_analyst_refused_server_copy if {
	st := object.union(select(["public.customers"], [col("public.customers", "email", "email", ["copy"])]), {"kind": "create_table_as", "server_copy": true})
	d := pgveil.decision with input as in_put(analyst, st)
	not d.allow
	contains(d.reason, "server-side storage")
}

# --- marketing ----------------------------------------------------------------

test_marketing_refused_messages if {
	d := pgveil.decision with input as in_put(marketing, sms)
	not d.allow
	contains(d.reason, "public.messages")
}

test_marketing_refused_tickets_even_without_personal_columns if {
	d := pgveil.decision with input as in_put(marketing, select(["public.tickets"], []))
	not d.allow
}

test_marketing_sees_customers_masked if {
	d := pgveil.decision with input as in_put(marketing, customers_contact)
	d.allow
	d.masks.name == "redact"
	d.masks.phone == "null"
}

# --- dpo and app_service ------------------------------------------------------

test_dpo_sees_everything if {
	d := pgveil.decision with input as in_put(dpo, sms)
	d.allow
	every c in catalog.categories {
		c in d.reveal
	}
	count(d.masks) == 0
}

test_dpo_may_run_opaque_statements if {
	d := pgveil.decision with input as in_put(dpo, opaque)
	d.allow
}

test_app_sees_everything if {
	d := pgveil.decision with input as in_put(app, customers_contact)
	d.allow
	"email" in d.reveal
}

test_app_may_not_bulk_export if {
	st := object.union(customers_contact, {"kind": "copy_to", "copy_format": "csv"})
	d := pgveil.decision with input as in_put(app, st)
	not d.allow
}

# --- unknown identities -------------------------------------------------------

test_stranger_refused_personal_data if {
	d := pgveil.decision with input as in_put(stranger, customers_contact)
	not d.allow
	contains(d.reason, "no policy for user \"intern\"")
}

test_stranger_may_read_products if {
	d := pgveil.decision with input as in_put(stranger, no_personal)
	d.allow
}

# --- sessions -----------------------------------------------------------------

test_dpo_session_from_outside_refused if {
	s := pgveil.session with input as {"identity": object.union(dpo, {"client_addr": "203.0.113.9"}), "catalog": catalog, "now": "2026-11-01T10:00:00Z"}
	not s.allow
}

test_dpo_session_from_loopback_accepted if {
	s := pgveil.session with input as {"identity": dpo, "catalog": catalog, "now": "2026-11-01T10:00:00Z"}
	s.allow
}

test_analyst_session_accepted_anywhere if {
	s := pgveil.session with input as {"identity": object.union(analyst, {"client_addr": "203.0.113.9"}), "catalog": catalog, "now": "2026-11-01T10:00:00Z"}
	s.allow
}
