#!/usr/bin/env bash
# The whole test suite against real servers: starts S3 (versitygw), GCS
# (fake-gcs-server) and Azure (Azurite) on 127.0.0.1, runs every Go test
# with the race detector, and stops the servers whatever happens.
# Extra arguments go to `go test` (e.g. -run TestEveryPairOfStores ./e2e).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=${SKYPLANE_TOOLS_DIR:-$root/.tools}

scripts/test-servers.sh start
trap 'scripts/test-servers.sh stop' EXIT
# shellcheck disable=SC1091
. "$tools/servers.env"

if [ $# -eq 0 ]; then
  set -- ./...
fi
go test -race -count=1 "$@"
