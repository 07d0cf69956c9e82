#!/usr/bin/env bash
# The main job: installs what is missing, starts Kafka and ClickHouse, creates topics and
# tables, and round-trips one record of each type through the pipeline. Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ops/bootstrap.sh
npx tsx ops/stack.ts up
npx tsx ops/stack.ts smoke
cat <<'TXT'

Where to look:
  npm run stack status          services, pids, addresses
  npm run stack logs [kafka|clickhouse]
  clickhouse-client --port ${STAAS_CLICKHOUSE_TCP_PORT:-9000} -q 'SELECT count() FROM staas.trend_realtime'
  npm run stack down            stop what `up` started (data stays in .state/)
TXT
