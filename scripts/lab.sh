#!/usr/bin/env bash
# WAN lab for the side-by-side benchmarks (bench/lab): two emulated regions
# on 127.0.0.1, each with its own S3 server (versitygw), and a toxiproxy that
# carries the WAN link (latency + per-connection bandwidth).
#
#   scripts/lab.sh install   # peers into $SKYPLANE_TOOLS_DIR (default .tools/):
#                            #   rclone, s5cmd (pinned), aws-cli (apt), plus the
#                            #   servers of scripts/test-servers.sh
#   scripts/lab.sh start     # start both regions + toxiproxy, write .tools/lab.env
#   scripts/lab.sh stop      # stop everything this script started, remove its data
#
# Link parameters (environment):
#   LAB_RTT_MS     round-trip time of the WAN link, ms (default 50: 25 ms each way)
#   LAB_FLOW_MBPS  per-connection bandwidth cap, Mbit/s (default 200)
#
# Placement:
#   - peers (rclone, s5cmd, aws-cli) run "in the destination region": they read
#     the source bucket through LAB_SRC_WAN_ENDPOINT (the toxiproxy proxy in front
#     of the source server) and write to LAB_DST_ENDPOINT directly;
#   - skyplane's source gateways read LAB_SRC_ENDPOINT directly; its
#     gateway-to-gateway links cross the WAN through toxiproxy via the test hook
#     SKYPLANE_TEST_TOXIPROXY / SKYPLANE_TEST_TOXICS (LAB_TOXICS, same toxics).
set -euo pipefail

RCLONE_VERSION=${LAB_RCLONE_VERSION:-v1.76.0}
S5CMD_VERSION=v2.3.0

root=$(cd "$(dirname "$0")/.." && pwd)
tools=${SKYPLANE_TOOLS_DIR:-$root/.tools}
bin=$tools/bin
run=$tools/run/lab
mkdir -p "$bin" "$run"

rtt_ms=${LAB_RTT_MS:-50}
flow_mbps=${LAB_FLOW_MBPS:-200}

log() { echo "lab: $*" >&2; }

install() {
  install_servers
  if [ ! -x "$bin/rclone" ] || [ "$(cat "$bin/.rclone" 2>/dev/null)" != "$RCLONE_VERSION" ]; then
    log "installing rclone $RCLONE_VERSION (~2 min build)"
    GOBIN=$bin go install "github.com/rclone/rclone@$RCLONE_VERSION"
    echo "$RCLONE_VERSION" > "$bin/.rclone"
  fi
  if [ ! -x "$bin/s5cmd" ] || [ "$(cat "$bin/.s5cmd" 2>/dev/null)" != "$S5CMD_VERSION" ]; then
    log "installing s5cmd $S5CMD_VERSION"
    # `go install ...@version` is refused for this module (replace directives):
    # build it inside a scratch module.
    local mod
    mod=$(mktemp -d)
    (cd "$mod" && go mod init x >/dev/null 2>&1 &&
      go get "github.com/peak/s5cmd/v2@$S5CMD_VERSION" &&
      go build -o "$bin/s5cmd" github.com/peak/s5cmd/v2)
    rm -rf "$mod"
    echo "$S5CMD_VERSION" > "$bin/.s5cmd"
  fi
  if [ ! -x /usr/bin/aws ]; then
    log "installing aws-cli (apt-get install -y awscli)"
    if ! apt-get install -y awscli >/dev/null 2>&1; then
      apt-get update >/dev/null 2>&1 || true
      apt-get install -y awscli >/dev/null 2>&1 ||
        log "NOTE: aws-cli could not be installed; the benchmark skips the aws-cli peer"
    fi
  fi
}

# shellcheck source=scripts/ports.sh
. "$root/scripts/ports.sh"

tox() { # method path [json]
  curl -fsS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$tox_api$2" >/dev/null
}

install_servers() {
  if [ ! -x "$bin/versitygw" ] || [ ! -x "$bin/toxiproxy-server" ]; then
    log "servers missing: running scripts/test-servers.sh install"
    SKYPLANE_TOOLS_DIR=$tools "$root/scripts/test-servers.sh" install
  fi
}

start() {
  # Only the servers are needed to start; `install` adds the peers.
  install_servers
  stop_lab
  mkdir -p "$run/src" "$run/dst"
  local key=skyplanelab secret=skyplanelabsecret
  local src_port dst_port tox_port wan_port
  src_port=$(free_port); dst_port=$(free_port); tox_port=$(free_port); wan_port=$(free_port)

  "$bin/versitygw" --port "127.0.0.1:$src_port" --access "$key" --secret "$secret" \
    posix "$run/src" >"$run/versitygw-src.log" 2>&1 &
  echo $! > "$run/versitygw-src.pid"
  "$bin/versitygw" --port "127.0.0.1:$dst_port" --access "$key" --secret "$secret" \
    posix "$run/dst" >"$run/versitygw-dst.log" 2>&1 &
  echo $! > "$run/versitygw-dst.pid"
  "$bin/toxiproxy-server" -host 127.0.0.1 -port "$tox_port" >"$run/toxiproxy.log" 2>&1 &
  echo $! > "$run/toxiproxy.pid"

  wait_port versitygw-src "$src_port"
  wait_port versitygw-dst "$dst_port"
  wait_port toxiproxy "$tox_port"

  # The WAN link: latency each way, and a per-connection bandwidth cap each way
  # (toxiproxy's bandwidth rate is in KB/s, 1 KB = 1000 bytes).
  local half=$((rtt_ms / 2)) rate=$((flow_mbps * 1000 / 8))
  toxics=$(printf '[{"type":"latency","stream":"downstream","attributes":{"latency":%d}},{"type":"latency","stream":"upstream","attributes":{"latency":%d}},{"type":"bandwidth","stream":"downstream","attributes":{"rate":%d}},{"type":"bandwidth","stream":"upstream","attributes":{"rate":%d}}]' "$half" "$half" "$rate" "$rate")
  tox_api=http://127.0.0.1:$tox_port
  tox POST /proxies "{\"name\":\"lab-wan-src\",\"listen\":\"127.0.0.1:$wan_port\",\"upstream\":\"127.0.0.1:$src_port\",\"enabled\":true}"
  local i=0
  python3 -c 'import json,sys; [print(json.dumps(t)) for t in json.loads(sys.argv[1])]' "$toxics" |
    while read -r t; do
      t=$(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); t["name"]="%s_%s_%s"%(t["type"],t["stream"],sys.argv[2]); print(json.dumps(t))' "$t" "$i")
      tox POST /proxies/lab-wan-src/toxics "$t"; i=$((i + 1))
    done
  wait_port toxiproxy-wan "$wan_port"

  cat > "$tools/lab.env" <<ENV
export SKYPLANE_LAB=1
export LAB_ACCESS_KEY=$key
export LAB_SECRET_KEY=$secret
export LAB_SRC_ENDPOINT=http://127.0.0.1:$src_port
export LAB_SRC_WAN_ENDPOINT=http://127.0.0.1:$wan_port
export LAB_DST_ENDPOINT=http://127.0.0.1:$dst_port
export LAB_TOXIPROXY=$tox_api
export LAB_TOXICS='$toxics'
export LAB_RTT_MS=$rtt_ms
export LAB_FLOW_MBPS=$flow_mbps
export LAB_BIN=$bin
ENV
  log "src region S3 :$src_port (WAN proxy :$wan_port), dst region S3 :$dst_port, toxiproxy :$tox_port"
  log "link: RTT ${rtt_ms} ms, ${flow_mbps} Mbit/s per connection; env in $tools/lab.env"
}

stop_lab() {
  for name in versitygw-src versitygw-dst toxiproxy; do
    if [ -f "$run/$name.pid" ]; then
      kill "$(cat "$run/$name.pid")" 2>/dev/null || true
      rm -f "$run/$name.pid"
    fi
  done
  sleep 0.2
  rm -rf "$run/src" "$run/dst" "$tools/lab.env"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_lab ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
