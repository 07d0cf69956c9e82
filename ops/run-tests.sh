#!/usr/bin/env bash
# Runs the test files under the given folders with Node's built-in test runner (TypeScript via tsx).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(find "${@:-test}" -name '*.test.ts' | sort)
if (( ${#files[@]} == 0 )); then echo "no test files under $*" >&2; exit 1; fi
# One file at a time: integration tests share one Kafka broker and one ClickHouse server on 2 cores.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
