# pgveil.jq: jq definitions for reading pgveil audit spans from OTLP/JSON
# lines (the Collector's file exporter, or pgveil's own "file" exporter).
#
#   jq -n -L path/to/audit 'include "pgveil"; inputs | spans | ...' spans.jsonl
#
# spans turns each line (one ExportTraceServiceRequest) into one object per
# span: name, traceId, spanId, parentSpanId, start and end (Unix seconds),
# status (0 unset, 2 error), service, plus every attribute under its own
# key ("pgveil.identity.user", "pgveil.subjects", ...), with string arrays
# as arrays and integers as numbers.

# value turns an OTLP/JSON AnyValue into a plain JSON value.
def value:
  if .arrayValue then [(.arrayValue.values // [])[] | value]
  elif .stringValue != null then .stringValue
  elif .intValue != null then (.intValue | tonumber)
  elif .boolValue != null then .boolValue
  elif .doubleValue != null then .doubleValue
  else null end;

def attrs: reduce (.attributes // [])[] as $a ({}; .[$a.key] = ($a.value | value));

def spans:
  .resourceSpans[]? as $rs
  | ($rs.resource | attrs) as $res
  | $rs.scopeSpans[]?.spans[]?
  | {name, traceId, spanId, parentSpanId,
     start: (.startTimeUnixNano[0:-9] | tonumber),
     end: (.endTimeUnixNano[0:-9] | tonumber),
     status: (.status.code // 0),
     service: $res["service.name"]}
    + attrs;

# has_item(k; v): the array attribute k contains v.
def has_item(k; v): (.[k] // []) | any(.[]; . == v);

# who: the identity of a span, for grouping.
def who: {user: .["pgveil.identity.user"], application: .["pgveil.identity.application"],
          client: .["client.address"], tls_subject: .["pgveil.identity.tls_subject"]};
