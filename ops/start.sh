#!/usr/bin/env bash
# The main job: installs what is missing, starts Kafka and ClickHouse, creates topics and
# tables, round-trips one record of each type through the pipeline, back-fills a year of history
# for a small fleet, runs a simulated fleet of agents writing through the Writer, waits until the
# sink has stored it all, then starts the Query API and shows example requests. Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ops/bootstrap.sh
npx tsx ops/stack.ts up
npx tsx ops/stack.ts smoke
npx tsx ops/stack.ts sink
echo
echo "A year of history for a small fleet (1 agent x 10 elements x 5 parameters), back-filled through the Writer:"
# The same end on every run (remembered in .state), so a second run writes the same rows again,
# which collapse, instead of a second year shifted by the hours since the first.
BACKFILL_END_FILE="${STAAS_STATE_DIR:-.state}/backfill-end"
[[ -s "$BACKFILL_END_FILE" ]] || date -u +%Y-%m-%dT%H:00:00Z >"$BACKFILL_END_FILE"
STAAS_WRITER_SPOOL_DIR="${STAAS_WRITER_SPOOL_DIR:-.state/writer-spool}" \
  npx tsx ingest/writer/cli.ts --backfill-days 365 --agents 1 --elements 10 --parameters 5 --backfill-end "$(cat "$BACKFILL_END_FILE")"
echo
echo "A simulated fleet (4 agents x 250 elements x 20 parameters) writes through the Writer for 15 s:"
STAAS_WRITER_SPOOL_DIR="${STAAS_WRITER_SPOOL_DIR:-.state/writer-spool}" \
  npx tsx ingest/writer/cli.ts --agents 4 --elements 250 --parameters 20 --rate 50000 --duration 15
npx tsx ops/stack.ts settle # until the sink has stored and committed everything (no lag)
echo
echo "Stored in ClickHouse:"
npx tsx ops/stack.ts report
cat <<'TXT'

Where to look:
  npm run stack -- status       services, pids, addresses
  npm run stack -- logs sink    (or kafka, clickhouse)
  npm run stack -- report       rows per table, sink lag and DLQ count
  curl -s 127.0.0.1:9464/metrics   the sink's Prometheus metrics (/health too)
  clickhouse-client -q 'SELECT count() FROM staas.trend_realtime FINAL'   (add --port if STAAS_CLICKHOUSE_TCP_PORT is set)
  npm run stack -- down         stop what `up` started (data stays in .state/)
TXT

# The Query API: started as a stack service, a token for the simulated DMS (1), and one example
# request of each kind, run here with the first lines of what it answered.
npx tsx ops/stack.ts query
QUERY_URL="http://${STAAS_QUERY_HOST:-127.0.0.1}:${STAAS_QUERY_PORT:-8080}"
TOKEN_FILE="${STAAS_STATE_DIR:-.state}/query/start-demo.token"
# One demo token, kept across runs while it is still accepted (else a new one).
TOKEN="$(cat "$TOKEN_FILE" 2>/dev/null || true)"
if [[ -z "$TOKEN" || "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$QUERY_URL/v1/shares")" != 200 ]]; then
  TOKEN="$(npx tsx query/auth/cli.ts create --dms 1 --name "ops/start.sh demo" --quiet)"
  (umask 077 && printf '%s\n' "$TOKEN" >"$TOKEN_FILE")
fi
# Ids the simulator writes (ingest/writer/simulator/fleet.ts): agent (DMA) 1, element 1 (srv-1-0001),
# trended parameter 1 (CPU Load), interface table 1000 (rows eth0, eth1, …).
DEMO_DMA=1 DEMO_ELEMENT=1 DEMO_PARAMETER=1 DEMO_TABLE=1000
NOW_MS="$(date +%s%3N)"
DAY_MS=86400000
ELEMENT_URL="$QUERY_URL/v1/elements/$DEMO_DMA/$DEMO_ELEMENT"
# Indented JSON with each flat object (a point, a cell) on one line, so the first lines show data.
pretty() { node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{try{console.log(JSON.stringify(JSON.parse(s),null,2).replace(/\{\n\s+([^{}\[\]]*?)\n\s+\}/g,(_,b)=>"{ "+b.replace(/\n\s+/g," ")+" }"))}catch{console.log(s)}})'; }
example() { # title, url: prints a ready-to-paste command, runs it, shows the status and the first lines
  local body status
  body="$(mktemp)"
  echo
  echo "# $1"
  echo "curl -s --compressed -H \"Authorization: Bearer \$TOKEN\" '$2'"
  status="$(curl -s --compressed -o "$body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$2" || echo 'no answer')"
  echo "  -> HTTP $status, first lines:"
  pretty <"$body" | head -n 18 | cut -c1-160 | sed 's/^/     /'
  rm -f "$body"
}
echo
echo "Query API on $QUERY_URL (OpenAPI: $QUERY_URL/openapi.json, docs: $QUERY_URL/docs). A token for DMS 1:"
echo "export TOKEN=$TOKEN"
example "24-hour trend of parameter $DEMO_PARAMETER (most precise data: real-time)" \
  "$ELEMENT_URL/trends?parameter=$DEMO_PARAMETER&from=$((NOW_MS - DAY_MS))&to=$NOW_MS"
example "30-day trend, type and interval chosen by the range (auto)" \
  "$ELEMENT_URL/trends?parameter=$DEMO_PARAMETER&from=$((NOW_MS - 30 * DAY_MS))&to=$NOW_MS&type=auto&interval=auto"
example "active alarms of the DMS, first page of 3" "$QUERY_URL/v1/alarms/active?limit=3"
example "rows of table $DEMO_TABLE, first page of 3" "$ELEMENT_URL/tables/$DEMO_TABLE/rows?limit=3"
cat <<TXT

More: every route with examples in README.md ("The Query API"); npm run stack -- logs query;
npx tsx query/auth/cli.ts list; npm run stack -- stop query (or down).
TXT
