# pgveil example policy for the demo dataset (`pgveil demo`).
#
# Who sees what (the demo's login roles, see `go doc ./rules/demo Roles`):
#
#   app_service    the application: sees everything it stores, except that
#                  bulk exports (COPY ... TO) of personal data are refused.
#   support_agent  names; phones as their last 4 digits; e-mails partially
#                  (j***@example.com); ticket text with identifiers scrubbed;
#                  no SMS bodies (redacted).
#   analyst        keyed pseudonyms (hash) for e-mails and phones, birth year
#                  only, IP prefixes, no names, bodies or ticket text; may not
#                  filter or sort on masked columns (that would let a query
#                  infer the hidden values), nor join or group on them unless
#                  they are pseudonyms.
#   dpo            everything, also statements pgveil cannot analyse; may only
#                  connect from the internal network (session rule).
#   marketing      refused every statement that touches messages, tickets or
#                  login events; sees birth years, e-mail domains, no names
#                  or phones; only customers who opted in, and their invoices.
#   anyone else    statements that touch no personal data run; statements
#                  that do are refused with a reason naming the identity.
#
# For every identity that sees masked data, statements pgveil cannot analyse
# (opaque), catalog views that hold data values (pg_stats, pg_stat_activity)
# and server-side copies of personal data (CREATE TABLE AS, INSERT ...
# SELECT, COPY TO a file) are refused.
#
# The input and output schemas are documented in policy/doc.go (`go doc
# github.com/pgveil/pgveil/policy`). A category this policy forgets gets its
# default mask: forgetting costs utility, never privacy.
package pgveil

# --- who is asking ---------------------------------------------------------

roles := input.identity.roles

# The profile of an identity: the first role that matches, most trusted
# first. A user who is in two of these roles gets the more trusted profile.
profile := "dpo" if {
	"dpo" in roles
} else := "app_service" if {
	"app_service" in roles
} else := "support_agent" if {
	"support_agent" in roles
} else := "analyst" if {
	"analyst" in roles
} else := "marketing" if {
	"marketing" in roles
}

# Profiles whose personal data is never masked.
unmasked_profiles := {"dpo", "app_service"}

masked if not profile in unmasked_profiles

# --- what each profile sees ------------------------------------------------

# Every category the current classification uses (input.catalog).
all_categories := {c | some c in input.catalog.categories}

view := {"reveal": all_categories, "masks": {}} if profile in unmasked_profiles

view := {
	"reveal": {"name"},
	"masks": {
		"phone": "last4",
		"email": "email",
		"free_text": "scrub",
		"message_body": "redact",
	},
} if profile == "support_agent"

view := {
	"reveal": set(),
	"masks": {
		"email": "hash",
		"phone": "hash",
		"birth_date": "year",
		"ip_address": "ip_prefix",
		"name": "null",
		"message_body": "null",
		"free_text": "null",
		"user_agent": "redact",
	},
} if profile == "analyst"

view := {
	"reveal": set(),
	"masks": {
		"name": "redact",
		"email": "email",
		"phone": "null",
		"birth_date": "year",
	},
} if profile == "marketing"

# --- refusals -----------------------------------------------------------------

stmt := input.statement

# The statement touches personal data.
personal if count(stmt.columns) > 0

personal if stmt.opaque

personal if stmt.catalog_data

refusals contains msg if {
	not profile
	personal
	msg := sprintf("pgveil has no policy for user %q, so statements that touch personal data are refused; ask your security team to add one", [input.identity.user])
}

refusals contains msg if {
	masked
	stmt.opaque
	msg := sprintf("pgveil cannot verify what this statement reads (%s), so it is refused for identities that see masked data", [stmt.opaque_reason])
}

refusals contains "catalog views that hold data values (pg_stats, pg_stat_activity and the like) are refused for identities that see masked data; query the tables instead" if {
	masked
	stmt.catalog_data
}

refusals contains msg if {
	masked
	copied := {sprintf("%s.%s", [c.table, c.column]) | some c in stmt.columns; "copy" in c.uses}
	count(copied) > 0
	msg := sprintf("copying personal data into server-side storage is refused for identities that see masked data (%s); select it instead", [concat(", ", sort(copied))])
}

refusals contains msg if {
	profile == "app_service"
	stmt.kind == "copy_to"
	count(stmt.columns) > 0
	msg := "bulk exports of personal data (COPY ... TO) are not part of running the service; use pgveil subject export"
}

marketing_forbidden := {"public.messages", "public.tickets", "public.login_events"}

refusals contains msg if {
	profile == "marketing"
	hit := {t | some t in stmt.tables; t in marketing_forbidden}
	count(hit) > 0
	msg := sprintf("marketing may not query %s", [concat(", ", sort(hit))])
}

# Uses of a masked column that would let an analyst infer its values.
# Filtering (WHERE email LIKE 'a%') and ordering leak the value itself;
# joining and grouping only reveal equality, which a keyed pseudonym (hash)
# reveals anyway. pgveil reports a key that can answer a guess (GROUP BY
# email = 'x', a join with a list of guesses, the row count of
# generate_series(1, ascii(email))) as a filter use.
inferring_uses := {"filter", "order"}

equality_uses := {"join", "group"}

analyst_violations contains sprintf("%s.%s (%s)", [c.table, c.column, u]) if {
	profile == "analyst"
	some c in stmt.columns
	some u in c.uses
	u in analyst_checked_uses
	not c.category in view.reveal
	analyst_forbidden(u, c.category)
}

analyst_checked_uses := inferring_uses | equality_uses

analyst_forbidden(u, _) if u in inferring_uses

analyst_forbidden(u, category) if {
	u in equality_uses
	object.get(view.masks, category, "default") != "hash"
}

refusals contains msg if {
	count(analyst_violations) > 0
	msg := sprintf("analysts may not filter, sort, join or group on masked columns: %s; select them instead (e-mails and phones come back as pseudonyms you can join and group on)", [concat(", ", sort(analyst_violations))])
}

# Row filters: marketing only ever sees customers who opted in, and only
# their invoices (and invoice lines).
default row_filters := {}

row_filters := {
	"public.customers": "marketing_opt_in",
	"public.invoices": "customer_id IN (SELECT c.id FROM public.customers c WHERE c.marketing_opt_in)",
	"public.invoice_lines": "invoice_id IN (SELECT i.id FROM public.invoices i JOIN public.customers c ON c.id = i.customer_id WHERE c.marketing_opt_in)",
} if profile == "marketing"

# --- the decision ------------------------------------------------------------

default decision := {"allow": false, "reason": "refused by the pgveil policy"}

# The first of these that applies: refusals, then the profile's view, then
# statements without personal data for identities without a profile.
decision := {"allow": false, "reason": concat("; ", sort(refusals))} if {
	count(refusals) > 0
} else := {
	"allow": true,
	"reason": sprintf("%s policy", [profile]),
	"reveal": view.reveal,
	"masks": view.masks,
	"row_filters": row_filters,
	# Restriction of processing (pgveil subject restrict) hides restricted
	# subjects' rows from everyone but the DPO.
	"unrestricted": profile == "dpo",
} if {
	view
} else := {"allow": true, "reason": "no personal data"} if {
	not profile
}

# --- sessions ------------------------------------------------------------------

# Session rule: evaluated once per connection, with no input.statement.
# The DPO account sees everything, so it may only connect from the internal
# network.
internal_networks := ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "fd00::/8"]

internal_client if {
	input.identity.client_addr != ""
	some cidr in internal_networks
	net.cidr_contains(cidr, input.identity.client_addr)
}

default session := {"allow": true}

session := {"allow": false, "reason": "the dpo account may only connect from the internal network"} if {
	profile == "dpo"
	not internal_client
}

# A time-based rule would look like this (input.now has minute precision):
#
# session := {"allow": false, "reason": "analytics accounts connect on weekdays only"} if {
# 	profile in {"analyst", "marketing"}
# 	time.weekday(time.parse_rfc3339_ns(input.now)) in {"Saturday", "Sunday"}
# }
