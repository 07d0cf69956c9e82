#!/usr/bin/env bash
# Installs what a fresh machine lacks, idempotently: the ClickHouse server and ZooKeeper (OS packages), the npm
# packages, and the Kafka broker jars (Maven Central, cached in $STAAS_CACHE_DIR or ~/.cache/staas).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need() { command -v "$1" >/dev/null 2>&1; }

for tool in node npm java mvn; do
  need "$tool" || { echo "staas bootstrap: '$tool' is required but not installed" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if (( node_major < 20 )); then echo "staas bootstrap: Node.js 20 or newer is required (found $(node --version))" >&2; exit 1; fi

if ! need clickhouse-server && [[ ! -x /usr/bin/clickhouse-server && ! -x /usr/sbin/clickhouse-server ]]; then
  echo "staas bootstrap: installing clickhouse-server and clickhouse-client (apt)"
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi

# ZooKeeper for the cluster mode's replicated tables (ops/zookeeper.ts runs it with its own config;
# the package's service is not used).
if [[ ! -f /usr/share/java/zookeeper.jar ]]; then
  echo "staas bootstrap: installing zookeeper (apt)"
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends zookeeper >/dev/null
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.staas-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "staas bootstrap: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' ops/kafka/pom.xml)
cache="${STAAS_CACHE_DIR:-$HOME/.cache/staas}"
bash ops/kafka/fetch.sh "$cache/kafka-$kafka_version/libs"

# schemathesis (PyPI) fuzzes the Query API against its OpenAPI document in the test suite;
# a private venv in the cache, created once per pinned version.
schemathesis_version=4.32.5
venv="$cache/venv-schemathesis-$schemathesis_version"
if [[ ! -x "$venv/bin/schemathesis" ]]; then
  echo "staas bootstrap: installing schemathesis $schemathesis_version (pip, into $venv)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
ln -sfn "$venv" "$cache/venv-schemathesis" # the tests run $cache/venv-schemathesis/bin/schemathesis

# chdb (PyPI) embeds a current ClickHouse engine: the suite checks our DDL and the Query API's SQL on it.
chdb_version=4.4.0
chdb_venv="$cache/venv-chdb-$chdb_version"
if [[ ! -x "$chdb_venv/bin/python" ]] || ! "$chdb_venv/bin/python" -c 'import chdb' 2>/dev/null; then
  echo "staas bootstrap: installing chdb $chdb_version (pip, into $chdb_venv)"
  python3 -m venv "$chdb_venv"
  "$chdb_venv/bin/pip" install -q --disable-pip-version-check "chdb==$chdb_version"
fi
ln -sfn "$chdb_venv" "$cache/venv-chdb"
