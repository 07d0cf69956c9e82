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
  npm run stack -- status       services, pids, addresses
  npm run stack -- logs kafka   (or clickhouse)
  clickhouse-client -q 'SELECT count() FROM staas.trend_realtime FINAL'   (add --port if STAAS_CLICKHOUSE_TCP_PORT is set)
  npm run stack -- down         stop what `up` started (data stays in .state/)
TXT
