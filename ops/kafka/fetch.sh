#!/usr/bin/env bash
# Resolves the Kafka broker jars from Maven Central into $1 (idempotent: a folder
# with a .complete marker is left alone). Usage: fetch.sh <libs-dir>
set -euo pipefail
dest="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -f "$dest/.complete" ]]; then exit 0; fi
command -v mvn >/dev/null || { echo "staas: Maven (mvn) is required to fetch the Kafka broker jars" >&2; exit 1; }
tmp="$dest.tmp.$$"
rm -rf "$tmp"
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp"
# The marker is written last and the folder renamed in place, so a killed fetch is simply redone.
touch "$tmp/.complete"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp" "$dest"
