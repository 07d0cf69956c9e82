#!/usr/bin/env bash
# The main job: installs what is missing, starts Kafka and ClickHouse, creates topics and
# tables, round-trips one record of each type through the pipeline, then runs a simulated fleet
# of agents writing through the Writer. Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ops/bootstrap.sh
npx tsx ops/stack.ts up
npx tsx ops/stack.ts smoke
npx tsx ops/stack.ts sink
echo
echo "A simulated fleet (4 agents x 250 elements x 20 parameters) writes through the Writer for 15 s:"
STAAS_WRITER_SPOOL_DIR="${STAAS_WRITER_SPOOL_DIR:-.state/writer-spool}" \
  npx tsx ingest/writer/cli.ts --agents 4 --elements 250 --parameters 20 --rate 50000 --duration 15
sleep 3 # the sink's last batches (age limit 0.5 s) and commit
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
