#!/usr/bin/env bash
# Installs (pinned) and runs the real object-store servers the tests use, on
# 127.0.0.1 with free ports:
#   S3    versitygw         (posix backend; a second one "in us-west-2" for
#                           copies between two S3 servers)
#   GCS   fake-gcs-server   (memory backend)
#   Azure Azurite           (blob service, disk mode)
#   faults toxiproxy        (TCP fault injection: SKYPLANE_TEST_TOXIPROXY is its API)
#
#   scripts/test-servers.sh install   # binaries into $SKYPLANE_TOOLS_DIR (default .tools/)
#   scripts/test-servers.sh start     # install if needed, start, wait until ready,
#                                     # write $SKYPLANE_TOOLS_DIR/servers.env (source it)
#   scripts/test-servers.sh stop      # stop them and remove their data
#   scripts/test-servers.sh env       # print the variables that point the skyplane CLI (and
#                                     # the clouds' SDKs) at the running servers:
#                                     #   eval "$(scripts/test-servers.sh env)"
#   scripts/test-servers.sh mb NAME   # create bucket NAME on S3 and GCS, container NAME on Azure
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
FAKE_GCS_VERSION=v1.56.1
AZURITE_VERSION=3.37.0
TOXIPROXY_VERSION=v2.5.0

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${SKYPLANE_TOOLS_DIR:-$root/.tools}
bin=$tools/bin
run=$tools/run
mkdir -p "$bin" "$run"

log() { echo "test-servers: $*" >&2; }

install() {
  if [ ! -x "$bin/versitygw" ] || [ "$(cat "$bin/.versitygw" 2>/dev/null)" != "$VERSITYGW_VERSION" ]; then
    log "installing versitygw $VERSITYGW_VERSION"
    GOBIN=$bin go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
    echo "$VERSITYGW_VERSION" > "$bin/.versitygw"
  fi
  if [ ! -x "$bin/fake-gcs-server" ] || [ "$(cat "$bin/.fake-gcs-server" 2>/dev/null)" != "$FAKE_GCS_VERSION" ]; then
    log "installing fake-gcs-server $FAKE_GCS_VERSION"
    GOBIN=$bin go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION"
    echo "$FAKE_GCS_VERSION" > "$bin/.fake-gcs-server"
  fi
  if [ ! -x "$bin/toxiproxy-server" ] || [ "$(cat "$bin/.toxiproxy-server" 2>/dev/null)" != "$TOXIPROXY_VERSION" ]; then
    log "installing toxiproxy $TOXIPROXY_VERSION"
    # The command is named "server": build it into a scratch dir and rename it.
    local gobin
    gobin=$(mktemp -d)
    GOBIN=$gobin go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
    mv "$gobin/server" "$bin/toxiproxy-server"
    rmdir "$gobin"
    echo "$TOXIPROXY_VERSION" > "$bin/.toxiproxy-server"
  fi
  if [ ! -x "$tools/node_modules/.bin/azurite-blob" ] || [ "$(cat "$tools/.azurite" 2>/dev/null)" != "$AZURITE_VERSION" ]; then
    command -v npm >/dev/null || { log "npm is required for Azurite (apt-get install -y npm)"; exit 1; }
    log "installing azurite $AZURITE_VERSION"
    (cd "$tools" && npm install --no-audit --no-fund --silent "azurite@$AZURITE_VERSION" >/dev/null)
    echo "$AZURITE_VERSION" > "$tools/.azurite"
  fi
}

# shellcheck source=scripts/ports.sh
. "$root/scripts/ports.sh"

start() {
  install
  stop_servers
  local s3_port s3b_port gcs_port az_port tox_port
  s3_port=$(free_port); s3b_port=$(free_port); gcs_port=$(free_port); az_port=$(free_port); tox_port=$(free_port)
  mkdir -p "$run/s3" "$run/s3b" "$run/gcs" "$run/azure"
  local key=skyplanetest secret=skyplanetestsecret

  "$bin/versitygw" --port "127.0.0.1:$s3_port" --access "$key" --secret "$secret" \
    posix "$run/s3" >"$run/versitygw.log" 2>&1 &
  echo $! > "$run/versitygw.pid"
  # A second S3 server in another region: copies between two S3-compatible
  # servers (s3_bucket_endpoints).
  "$bin/versitygw" --port "127.0.0.1:$s3b_port" --access "$key" --secret "$secret" --region us-west-2 \
    posix "$run/s3b" >"$run/versitygw-b.log" 2>&1 &
  echo $! > "$run/versitygw-b.pid"

  # Memory backend: the filesystem one silently drops folder-marker objects
  # ("dir/") and cannot hold "a" beside "a/b", which real GCS can.
  "$bin/fake-gcs-server" -host 127.0.0.1 -port "$gcs_port" -scheme http -backend memory \
    -external-url "http://127.0.0.1:$gcs_port" -public-host "127.0.0.1:$gcs_port" \
    >"$run/fake-gcs-server.log" 2>&1 &
  echo $! > "$run/fake-gcs-server.pid"

  "$tools/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$az_port" --location "$run/azure" \
    --skipApiVersionCheck --disableTelemetry --silent >"$run/azurite.log" 2>&1 &
  echo $! > "$run/azurite.pid"

  # Proxies are created by the tests (through the HTTP API) on 127.0.0.1:0.
  "$bin/toxiproxy-server" -host 127.0.0.1 -port "$tox_port" >"$run/toxiproxy.log" 2>&1 &
  echo $! > "$run/toxiproxy.pid"

  wait_port versitygw "$s3_port"
  wait_port versitygw-b "$s3b_port"
  wait_port fake-gcs-server "$gcs_port"
  wait_port azurite "$az_port"
  wait_port toxiproxy "$tox_port"

  # Azurite's well-known development account.
  local az_key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
  cat > "$tools/servers.env" <<ENV
export SKYPLANE_TEST_SERVERS=1
export SKYPLANE_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
export SKYPLANE_TEST_S3_ACCESS_KEY=$key
export SKYPLANE_TEST_S3_SECRET_KEY=$secret
export SKYPLANE_TEST_S3_DATA_DIR=$run/s3
export SKYPLANE_TEST_S3B_ENDPOINT=http://127.0.0.1:$s3b_port
export SKYPLANE_TEST_GCS_HOST=127.0.0.1:$gcs_port
export SKYPLANE_TEST_AZURE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$az_key;BlobEndpoint=http://127.0.0.1:$az_port/devstoreaccount1;'
export SKYPLANE_TEST_TOXIPROXY=http://127.0.0.1:$tox_port
ENV
  log "S3 on :$s3_port (and :$s3b_port, us-west-2), GCS on :$gcs_port, Azure on :$az_port, toxiproxy on :$tox_port; env in $tools/servers.env"
}

stop_servers() {
  for name in versitygw versitygw-b fake-gcs-server azurite toxiproxy; do
    if [ -f "$run/$name.pid" ]; then
      kill "$(cat "$run/$name.pid")" 2>/dev/null || true
      rm -f "$run/$name.pid"
    fi
  done
  sleep 0.2
  rm -rf "$run/s3" "$run/s3b" "$run/gcs" "$run/azure" "$tools/servers.env"
}

# print_env: the standard SDK variables skyplane reads, from servers.env.
print_env() {
  [ -f "$tools/servers.env" ] || { log "no servers are running: run $0 start first"; exit 1; }
  # shellcheck disable=SC1091
  . "$tools/servers.env"
  cat <<ENV
# skyplane against the test servers (started by $0 start):
#   s3://BUCKET/key  gs://BUCKET/key  azure://devstoreaccount1/CONTAINER/key
# create a bucket on each with: $0 mb NAME
export AWS_ACCESS_KEY_ID=$SKYPLANE_TEST_S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SKYPLANE_TEST_S3_SECRET_KEY
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_S3=$SKYPLANE_TEST_S3_ENDPOINT
export STORAGE_EMULATOR_HOST=$SKYPLANE_TEST_GCS_HOST
export AZURE_STORAGE_CONNECTION_STRING='$SKYPLANE_TEST_AZURE_CONNECTION_STRING'
ENV
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_servers ;;
  env) print_env ;;
  mb)
    [ $# -eq 2 ] || { echo "usage: $0 mb NAME" >&2; exit 2; }
    eval "$(print_env)"
    cd "$root" && go run ./scripts/mkbucket "$2"
    ;;
  *) echo "usage: $0 install|start|stop|env|mb NAME" >&2; exit 2 ;;
esac
