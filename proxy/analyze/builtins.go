package analyze

import "strings"

// This file holds the immutable tables the analyzer consults about
// PostgreSQL builtins: which functions run SQL or read files or relations
// (opaque), which catalog relations and functions hold data values, the
// shapes of set-returning functions, and a fallback list of pure builtin
// functions for snapshots that carry no pg_proc rows (hand-built schemas in
// tests). Every entry is a PostgreSQL 13-17 builtin name.

// opaqueFuncs are builtins that read relations, files, large objects, other
// sessions or the WAL, or run SQL given as text. A statement that calls one
// is Opaque and the call's value is Unknown. Values are the reason.
var opaqueFuncs = map[string]string{
	"query_to_xml":                  "runs SQL given as text",
	"query_to_xmlschema":            "runs SQL given as text",
	"query_to_xml_and_xmlschema":    "runs SQL given as text",
	"cursor_to_xml":                 "reads a cursor",
	"cursor_to_xmlschema":           "reads a cursor",
	"table_to_xml":                  "reads a table by name",
	"table_to_xmlschema":            "reads a table by name",
	"table_to_xml_and_xmlschema":    "reads a table by name",
	"schema_to_xml":                 "reads every table of a schema",
	"schema_to_xmlschema":           "reads every table of a schema",
	"schema_to_xml_and_xmlschema":   "reads every table of a schema",
	"database_to_xml":               "reads every table of the database",
	"database_to_xmlschema":         "reads every table of the database",
	"database_to_xml_and_xmlschema": "reads every table of the database",
	"ts_stat":                       "runs SQL given as text",
	"ts_rewrite":                    "runs SQL given as text (its two-argument form)",
	"pg_read_file":                  "reads a server file",
	"pg_read_binary_file":           "reads a server file",
	"pg_stat_get_activity":          "reads other sessions' queries",
	"pg_stat_get_backend_activity":  "reads other sessions' queries",
	"current_query":                 "returns the query text",
	"loread":                        "reads a large object",
	"lowrite":                       "writes a large object",
	"pg_mcv_list_items":             "returns column statistics values",
	"pg_get_wal_record_info":        "reads the write-ahead log",
	"pg_get_wal_records_info":       "reads the write-ahead log",
	"pg_get_wal_block_info":         "reads the write-ahead log",
}

// opaqueFuncPrefixes extend opaqueFuncs by prefix.
var opaqueFuncPrefixes = []struct{ prefix, reason string }{
	{"dblink", "queries another database (dblink)"},
	{"lo_", "reads or writes large objects"},
	{"pg_ls_", "lists server files"},
	{"pg_logical_slot_", "reads decoded write-ahead log"},
	{"pg_logical_emit_message", "writes to the write-ahead log"},
	{"pg_file_", "reads or writes server files"},
	{"pg_stat_get_xact_", "returns row counts of the transaction, hidden rows included"},
	{"pg_stat_get_tuples_", "returns row counts, hidden rows included"},
	{"pg_stat_get_live_tuples", "returns row counts, hidden rows included"},
	{"pg_stat_get_dead_tuples", "returns row counts, hidden rows included"},
	{"pg_stat_get_db_tuples_", "returns row counts, hidden rows included"},
	{"pg_stat_get_db_blocks_", "returns read counts, hidden rows included"},
	{"pg_stat_get_blocks_", "returns read counts, hidden rows included"},
	{"pg_stat_get_numscans", "returns scan counts"},
}

// storingFuncs are builtins that keep their arguments' values in server or
// session state that later statements read back with no lineage: a
// sequence (setval, and nextval of a computed name: currval, last_value),
// the random generator's seed (random() then reveals it), and advisory lock
// keys (pg_locks shows them to every session), and notifications (pg_notify:
// listeners get the channel name even where pgveil empties the payload).
// Like set_config, a call is a server-side copy of what its arguments
// derive from.
var storingFuncs = map[string]bool{
	"pg_notify":                        true,
	"setval":                           true,
	"nextval":                          true,
	"setseed":                          true,
	"pg_advisory_lock":                 true,
	"pg_advisory_lock_shared":          true,
	"pg_advisory_xact_lock":            true,
	"pg_advisory_xact_lock_shared":     true,
	"pg_try_advisory_lock":             true,
	"pg_try_advisory_lock_shared":      true,
	"pg_try_advisory_xact_lock":        true,
	"pg_try_advisory_xact_lock_shared": true,
}

// opaqueBuiltin returns the reason a builtin function is opaque, or "".
func opaqueBuiltin(name string) string {
	if r, ok := opaqueFuncs[name]; ok && r != "" {
		return "calls " + name + ", which " + r
	}
	for _, p := range opaqueFuncPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return "calls " + name + ", which " + p.reason
		}
	}
	return ""
}

// catalogDataRelations are the system relations whose rows hold data values
// of other relations or sessions: statistics (most common values, histogram
// bounds), other sessions' query text and client addresses, large object
// contents. Reading one sets Statement.CatalogData and makes every column of
// the relation Unknown. pg_stat_statements lives in whatever schema its
// extension was installed in; the others are in pg_catalog.
var catalogDataRelations = map[string]bool{
	"pg_stats":              true,
	"pg_stats_ext":          true,
	"pg_stats_ext_exprs":    true,
	"pg_statistic":          true,
	"pg_statistic_ext_data": true,
	"pg_stat_activity":      true,
	"pg_stat_ssl":           true,
	"pg_stat_gssapi":        true,
	"pg_largeobject":        true,
	"pg_stat_statements":    true,
	// Row counts per table and index, of the current transaction too:
	// rows fetched by a statement include rows a row filter hides.
	"pg_stat_xact_user_tables": true,
	"pg_stat_xact_all_tables":  true,
	"pg_stat_xact_sys_tables":  true,
	"pg_stat_user_tables":      true,
	"pg_stat_all_tables":       true,
	"pg_stat_sys_tables":       true,
	"pg_stat_user_indexes":     true,
	"pg_stat_all_indexes":      true,
	"pg_stat_sys_indexes":      true,
	// Database-wide and block counters: a statement's row fetches show in
	// them as well.
	"pg_stat_database":       true,
	"pg_statio_user_tables":  true,
	"pg_statio_all_tables":   true,
	"pg_statio_sys_tables":   true,
	"pg_statio_user_indexes": true,
	"pg_statio_all_indexes":  true,
	"pg_statio_sys_indexes":  true,
}

func isCatalogDataRelation(schema, name string) bool {
	if !catalogDataRelations[name] {
		return false
	}
	return schema == "pg_catalog" || schema == "" || name == "pg_stat_statements"
}

// systemSchema reports whether views of the schema are left unexpanded.
func systemSchema(s string) bool {
	return s == "pg_catalog" || s == "information_schema"
}

// builtinSRFs are PostgreSQL's set-returning builtins that take arguments a
// query could compute from data; see Snapshot.mayReturnSet.
var builtinSRFs = toSet(`
generate_series generate_subscripts unnest regexp_matches regexp_split_to_table string_to_table
json_each json_each_text jsonb_each jsonb_each_text json_array_elements json_array_elements_text
jsonb_array_elements jsonb_array_elements_text json_object_keys jsonb_object_keys
json_populate_recordset jsonb_populate_recordset json_to_recordset jsonb_to_recordset
jsonb_path_query jsonb_path_query_tz ts_stat ts_parse ts_debug ts_token_type pg_options_to_table
aclexplode`)

// srfColumns are the output column names of builtin set-returning (or
// record-returning) functions that return more than one column, or whose
// column is not named after the function.
var srfColumns = map[string][]string{
	"json_each":           {"key", "value"},
	"jsonb_each":          {"key", "value"},
	"json_each_text":      {"key", "value"},
	"jsonb_each_text":     {"key", "value"},
	"json_array_elements": {"value"}, "jsonb_array_elements": {"value"},
	"json_array_elements_text": {"value"}, "jsonb_array_elements_text": {"value"},
	"pg_options_to_table": {"option_name", "option_value"},
	"aclexplode":          {"grantor", "grantee", "privilege_type", "is_grantable"},
	"ts_parse":            {"tokid", "token"},
	"ts_token_type":       {"tokid", "alias", "description"},
	"pg_get_keywords":     {"word", "catcode", "barelabel", "catdesc", "baredesc"},
}

// recordFuncs return records whose columns the caller defines with a column
// definition list (AS t(a int, b text)) or, for the populate variants, with
// the row type of the first argument.
var recordFuncs = map[string]bool{
	"json_to_record": true, "jsonb_to_record": true,
	"json_to_recordset": true, "jsonb_to_recordset": true,
	"json_populate_record": true, "jsonb_populate_record": true,
	"json_populate_recordset": true, "jsonb_populate_recordset": true,
}

// builtinFuncs is the fallback list of pure builtins: functions whose result
// is computed only from their arguments (and session or clock state). A
// snapshot loaded from a database uses pg_proc instead; this list only
// matters for hand-built schemas. Names qualified with pg_catalog are
// builtins whether or not they are listed.
var builtinFuncs = toSet(`
abs acos acosd acosh age any_value array_agg array_append array_cat array_dims array_fill array_length
array_lower array_ndims array_position array_positions array_prepend array_remove array_replace
array_to_json array_to_string array_upper ascii asin asind asinh atan atan2 atan2d atand atanh avg
bit_and bit_count bit_length bit_or bit_xor bool_and bool_or btrim cardinality cbrt ceil ceiling
char_length character_length chr clock_timestamp coalesce concat concat_ws convert convert_from
convert_to corr cos cosd cosh cot cotd count covar_pop covar_samp cume_dist current_database
current_schema current_schemas current_setting currval date_bin date_part date_trunc decode degrees
dense_rank div encode enum_first enum_last enum_range every exp extract factorial first_value floor
format format_type gcd gen_random_uuid generate_series generate_subscripts get_bit get_byte greatest
grouping has_any_column_privilege has_column_privilege has_database_privilege has_function_privilege
has_schema_privilege has_sequence_privilege has_table_privilege hashtext host hostmask inet_client_addr
inet_server_addr initcap isfinite json_agg json_agg_strict json_array_elements json_array_elements_text
json_array_length json_build_array json_build_object json_each json_each_text json_extract_path
json_extract_path_text json_object json_object_agg json_object_agg_strict json_object_agg_unique
json_object_keys json_populate_record json_populate_recordset json_scalar json_serialize
json_strip_nulls json_to_record json_to_recordset json_typeof jsonb_agg jsonb_agg_strict
jsonb_array_elements jsonb_array_elements_text jsonb_array_length jsonb_build_array jsonb_build_object
jsonb_each jsonb_each_text jsonb_extract_path jsonb_extract_path_text jsonb_insert jsonb_object
jsonb_object_agg jsonb_object_agg_strict jsonb_object_agg_unique jsonb_object_keys jsonb_path_exists
jsonb_path_match jsonb_path_query jsonb_path_query_array jsonb_path_query_first jsonb_populate_record
jsonb_populate_recordset jsonb_pretty jsonb_set jsonb_set_lax jsonb_strip_nulls jsonb_to_record
jsonb_to_recordset jsonb_typeof justify_days justify_hours justify_interval lag last_value lastval lcm
lead least left length like_escape ln localtime localtimestamp log log10 lower lpad ltrim make_date
make_interval make_time make_timestamp make_timestamptz masklen max md5 min min_scale mod mode
netmask network nextval now nth_value ntile nullif num_nonnulls num_nulls octet_length overlay
parse_ident percent_rank percentile_cont percentile_disc pg_backend_pid pg_cancel_backend
pg_client_encoding pg_column_size pg_database_size pg_get_constraintdef pg_get_expr
pg_get_functiondef pg_get_indexdef pg_get_serial_sequence pg_get_triggerdef pg_get_userbyid
pg_get_viewdef pg_indexes_size pg_is_in_recovery pg_notify pg_postmaster_start_time pg_relation_size
pg_size_bytes pg_size_pretty pg_sleep pg_table_size pg_terminate_backend pg_total_relation_size
pg_typeof pg_advisory_lock pg_advisory_unlock pg_try_advisory_lock pg_advisory_xact_lock pi position
power quote_ident quote_literal quote_nullable radians random rank regexp_count regexp_instr
regexp_like regexp_match regexp_matches regexp_replace regexp_split_to_array regexp_split_to_table
regexp_substr regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy
regr_syy repeat replace reverse right round row_number row_to_json rpad rtrim scale set_config setseed
setval sha224 sha256 sha384 sha512 sign similar_escape similar_to_escape sin sind sinh split_part sqrt
starts_with statement_timestamp stddev stddev_pop stddev_samp string_agg string_to_array
string_to_table strpos substr substring sum tan tand tanh text timeofday timezone to_ascii to_char
to_date to_hex to_json to_jsonb to_number to_regclass to_regtype to_timestamp to_tsquery to_tsvector
transaction_timestamp translate trim trim_array trim_scale trunc txid_current unistr unnest upper
uuid_generate_v4 var_pop var_samp variance version width_bucket xmlagg xmlcomment xmlconcat xmlelement
xmlforest xmlparse xmlpi xmlroot xmlserialize xpath xpath_exists xml_is_well_formed plainto_tsquery
phraseto_tsquery websearch_to_tsquery ts_rank ts_rank_cd ts_headline setweight strip numnode
querytree array_to_tsvector tsvector_to_array bool int4 int8 float8 numeric date_add date_subtract
isempty lower_inc upper_inc lower_inf upper_inf range_merge int4range int8range numrange tsrange
tstzrange daterange multirange row_security_active inet_client_port inet_server_port
pg_current_xact_id pg_xact_status obj_description col_description shobj_description pg_encoding_to_char
array_sample array_shuffle random_normal erf erfc gamma lgamma pg_input_is_valid pg_input_error_info
`)

// builtinTypes is the fallback list of builtin type names for hand-built
// schemas (a cast to an unknown type name is opaque).
var builtinTypes = toSet(`
bigint bigserial bit bool boolean box bpchar bytea char character cidr circle date decimal double
float float4 float8 inet int int2 int4 int8 integer interval json jsonb jsonpath line lseg macaddr
macaddr8 money name numeric oid path pg_lsn point polygon real record regclass regconfig regnamespace
regoper regproc regprocedure regrole regtype serial smallint smallserial text time timestamp
timestamptz timetz tsquery tsvector txid_snapshot uuid varbit varchar xid xid8 xml "char" anyelement
anyarray void cstring int4range int8range numrange tsrange tstzrange daterange regcollation regdictionary
regoperator
`)

func toSet(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// DefaultTrustedExtensions are the extensions whose functions, operators and
// types the analyzer treats like builtins when Trust.Extensions is nil: they
// compute results from their arguments and read no relations.
var DefaultTrustedExtensions = []string{
	"btree_gin", "btree_gist", "citext", "cube", "earthdistance", "fuzzystrmatch", "hstore",
	"intarray", "isn", "ltree", "pg_trgm", "pgcrypto", "seg",
	"unaccent", "uuid-ossp",
}
