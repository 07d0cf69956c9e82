#!/usr/bin/env bash
# The test command: installs what is missing, starts Kafka and ClickHouse if they are not up,
# then runs every test (unit and integration). Services stay up afterwards for the next run;
# `npm run stack down` stops them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash ops/bootstrap.sh
npx tsx ops/stack.ts up
bash ops/run-tests.sh test
