#!/usr/bin/env bash
# WAN lab for the side-by-side benchmarks (bench/lab): two emulated regions
# on 127.0.0.1, each with its own S3 server (versitygw, one S3 region each),
# a toxiproxy that carries the WAN link (latency + per-connection bandwidth),
# and, as root, one network namespace per gateway whose egress to the WAN is
# capped (a cloud VM's per-instance egress cap).
#
#   scripts/lab.sh install   # peers into $SKYPLANE_TOOLS_DIR (default .tools/):
#                            #   rclone, s5cmd (pinned), aws-cli (apt), plus the
#                            #   servers of scripts/test-servers.sh
#   scripts/lab.sh start     # start both regions + toxiproxy (+ namespaces),
#                            #   write .tools/lab.env
#   scripts/lab.sh stop      # stop everything this script started, remove its
#                            #   data, namespaces, veths and bridge (idempotent)
#
# Link parameters (environment):
#   LAB_RTT_MS          round-trip time of the WAN link, ms (default 50: 25 ms each way)
#   LAB_FLOW_MBPS       per-connection bandwidth cap, Mbit/s (default 200)
#   LAB_SRC_REGION      S3 region of the source server (default us-east-1)
#   LAB_DST_REGION      S3 region of the destination server (default us-west-2)
# Per-gateway egress cap (root only; needs `ip netns` and tc htb):
#   LAB_GATEWAY_MBPS    egress cap of each gateway to the WAN, Mbit/s (default 800;
#                       0 disables the namespaces altogether)
#   LAB_NETNS_GATEWAYS  number of gateway namespaces skylab-g1..N (default 4: two
#                       regions x `skyplane -n 2`)
#   LAB_NETNS_SUBNET    first three octets of the lab's /24 (default 10.231.77)
#
# Placement:
#   - peers (rclone, s5cmd, aws-cli) run "in the destination region": they read
#     the source bucket through LAB_SRC_WAN_ENDPOINT (the toxiproxy proxy in front
#     of the source server) and write to LAB_DST_ENDPOINT directly;
#   - skyplane's gateway-to-gateway links cross the WAN through toxiproxy via the
#     test hook SKYPLANE_TEST_TOXIPROXY / SKYPLANE_TEST_TOXICS (LAB_TOXICS, same
#     toxics);
#   - with namespaces (LAB_NETNS=1): a bridge skylab0 in the root namespace holds
#     SUBNET.1 (the region side: toxiproxy proxies without toxics in front of each
#     S3 server, LAB_SRC_NS_ENDPOINT / LAB_DST_NS_ENDPOINT) and SUBNET.254 (the
#     WAN side: SKYPLANE_TEST_TOXIPROXY_LISTEN, where the per-link proxies of the
#     hook listen). Namespace skylab-gI has SUBNET.(10+I) on a veth into the
#     bridge; an htb qdisc on its egress caps traffic to SUBNET.254 at
#     LAB_GATEWAY_MBPS (class 1:10) and leaves everything else unshaped (class
#     1:20, e.g. S3 traffic, which is intra-region). SKYPLANE_TEST_NETNS makes
#     the local provider start gateway I in skylab-gI (round-robin), so
#     `skyplane -n 2` gets two caps per region. Gateways read and write S3
#     through the *_NS_ENDPOINTs; the client may use them too (root namespace).
#     Check the cap with: ip netns exec skylab-g1 tc -s class show dev skylab-p1
#   - without namespaces (not root, `ip netns add` fails, or LAB_GATEWAY_MBPS=0):
#     LAB_NETNS=0, no cap, and LAB_*_NS_ENDPOINT equal LAB_*_ENDPOINT.
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
src_region=${LAB_SRC_REGION:-us-east-1}
dst_region=${LAB_DST_REGION:-us-west-2}
gw_mbps=${LAB_GATEWAY_MBPS:-800}
ns_count=${LAB_NETNS_GATEWAYS:-4}
subnet=${LAB_NETNS_SUBNET:-10.231.77}
# Names the namespace part creates (stop removes them by these prefixes).
bridge=skylab0
ns_prefix=skylab-g  # namespaces skylab-g1..N
veth_prefix=skylab-v # root end of gateway I's veth (skylab-vI, in the bridge)
peer_prefix=skylab-p # its end inside the namespace (skylab-pI)

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
  # GNU time reports each tool's peak RSS.
  if [ ! -x /usr/bin/time ]; then
    log "installing GNU time (apt-get install -y time)"
    apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 || true; apt-get install -y time >/dev/null 2>&1; } ||
      log "NOTE: GNU time could not be installed; peak RSS is reported as 0"
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

check_params() {
  local v env
  for v in rtt_ms:LAB_RTT_MS flow_mbps:LAB_FLOW_MBPS gw_mbps:LAB_GATEWAY_MBPS ns_count:LAB_NETNS_GATEWAYS; do
    env=${v#*:} v=${v%%:*}
    [[ ${!v} =~ ^[0-9]+$ ]] || { log "bad $env=${!v}: want a whole number"; return 1; }
  done
  if [ "$ns_count" -lt 1 ] || [ "$ns_count" -gt 240 ]; then
    log "LAB_NETNS_GATEWAYS=$ns_count: want 1..240"; return 1
  fi
  local re='^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$' o
  IFS=. read -r -a octets <<<"$subnet"
  if [ "${#octets[@]}" -ne 3 ] || [[ $subnet == *. ]]; then
    log "LAB_NETNS_SUBNET=$subnet: want three octets, e.g. 10.231.77"; return 1
  fi
  for o in "${octets[@]}"; do
    [[ $o =~ $re ]] || { log "LAB_NETNS_SUBNET=$subnet: bad octet $o"; return 1; }
  done
}

start() {
  check_params
  # Only the servers are needed to start; `install` adds the peers.
  install_servers
  stop_lab
  # A start that fails midway leaves nothing behind.
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed (exit $rc): cleaning up"; stop_lab; fi' EXIT
  mkdir -p "$run/src" "$run/dst"
  local key=skyplanelab secret=skyplanelabsecret
  local src_port dst_port tox_port wan_port
  src_port=$(free_port); dst_port=$(free_port); tox_port=$(free_port); wan_port=$(free_port)

  "$bin/versitygw" --port "127.0.0.1:$src_port" --access "$key" --secret "$secret" \
    --region "$src_region" posix "$run/src" >"$run/versitygw-src.log" 2>&1 &
  echo $! > "$run/versitygw-src.pid"
  "$bin/versitygw" --port "127.0.0.1:$dst_port" --access "$key" --secret "$secret" \
    --region "$dst_region" posix "$run/dst" >"$run/versitygw-dst.log" 2>&1 &
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

  local netns=0 avail=1 src_ns_endpoint=http://127.0.0.1:$src_port dst_ns_endpoint=http://127.0.0.1:$dst_port
  local netns_env=""
  if [ "$gw_mbps" -eq 0 ]; then
    log "LAB_GATEWAY_MBPS=0: no gateway namespaces, no per-gateway egress cap"
  else
    avail=0
    netns_available || avail=$?
    [ "$avail" -ne 2 ] || return 1
  fi
  if [ "$gw_mbps" -gt 0 ] && [ "$avail" -eq 0 ]; then
    setup_netns
    # Gateways in the namespaces reach the S3 servers (127.0.0.1 in the root
    # namespace) through proxies without toxics on the bridge's region address.
    local src_listen dst_listen
    src_listen=$(tox_listen lab-ns-src "$subnet.1:0" "127.0.0.1:$src_port")
    dst_listen=$(tox_listen lab-ns-dst "$subnet.1:0" "127.0.0.1:$dst_port")
    src_ns_endpoint=http://$src_listen dst_ns_endpoint=http://$dst_listen
    netns=1
    local pairs="" n
    for n in $(seq 1 "$ns_count"); do pairs+="${pairs:+,}$ns_prefix$n=$subnet.$((10 + n))"; done
    netns_env="export SKYPLANE_TEST_NETNS=$pairs
export SKYPLANE_TEST_TOXIPROXY_LISTEN=$subnet.254
export LAB_NETNS_WAN=$subnet.254"
  fi

  cat > "$tools/lab.env" <<ENV
export SKYPLANE_LAB=1
export LAB_ACCESS_KEY=$key
export LAB_SECRET_KEY=$secret
export LAB_SRC_ENDPOINT=http://127.0.0.1:$src_port
export LAB_SRC_WAN_ENDPOINT=http://127.0.0.1:$wan_port
export LAB_DST_ENDPOINT=http://127.0.0.1:$dst_port
export LAB_SRC_REGION=$src_region
export LAB_DST_REGION=$dst_region
export LAB_TOXIPROXY=$tox_api
export LAB_TOXICS='$toxics'
export LAB_RTT_MS=$rtt_ms
export LAB_FLOW_MBPS=$flow_mbps
export LAB_BIN=$bin
export LAB_SRC_DATA_DIR=$run/src
export LAB_NETNS=$netns
export LAB_GATEWAY_MBPS=$([ "$netns" = 1 ] && echo "$gw_mbps" || echo 0)
export LAB_SRC_NS_ENDPOINT=$src_ns_endpoint
export LAB_DST_NS_ENDPOINT=$dst_ns_endpoint
${netns_env}
ENV
  trap - EXIT
  log "src region $src_region S3 :$src_port (WAN proxy :$wan_port), dst region $dst_region S3 :$dst_port, toxiproxy :$tox_port"
  log "link: RTT ${rtt_ms} ms, ${flow_mbps} Mbit/s per connection; env in $tools/lab.env"
  if [ "$netns" = 1 ]; then
    log "gateways: $ns_count namespaces ${ns_prefix}1..$ns_count ($subnet.11..), egress to the WAN ($subnet.254) capped at $gw_mbps Mbit/s each; S3 via $src_ns_endpoint, $dst_ns_endpoint"
  fi
}

# tox_listen NAME LISTEN UPSTREAM creates a proxy without toxics and prints
# the address it listens on (LISTEN may have port 0).
tox_listen() {
  curl -fsS -X POST -H 'Content-Type: application/json' \
    --data "{\"name\":\"$1\",\"listen\":\"$2\",\"upstream\":\"$3\",\"enabled\":true}" "$tox_api/proxies" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["listen"])'
}

# netns_available reports whether this process may create network
# namespaces (root, iproute2 and tc present, `ip netns add` works); it leaves
# the first namespace in place when it answers yes.
netns_available() {
  local why="" out
  if [ "$(id -u)" != 0 ]; then
    why="not running as root"
  elif ! command -v ip >/dev/null 2>&1 || ! command -v tc >/dev/null 2>&1; then
    why="ip or tc (iproute2) not found"
  elif ! out=$(ip netns add "${ns_prefix}1" 2>&1); then
    why="\`ip netns add\` failed: $out"
  fi
  if [ -n "$why" ]; then
    log "NOTE: no network namespaces ($why): gateways run in the root namespace WITHOUT the per-gateway egress cap (LAB_NETNS=0)"
    return 1
  fi
  if ip -o addr show to "$subnet.0/24" | grep -q .; then
    log "subnet $subnet.0/24 is already in use on this machine: set LAB_NETNS_SUBNET to a free one"
    ip -o addr show to "$subnet.0/24" >&2
    return 2
  fi
}

# setup_netns builds the bridge, the namespaces and their egress caps.
setup_netns() {
  ip link add "$bridge" type bridge forward_delay 0
  ip addr add "$subnet.1/24" dev "$bridge"
  ip addr add "$subnet.254/24" dev "$bridge" # secondary: the WAN side
  ip link set "$bridge" up
  # Burst: 4 ms of the capped rate (a tick at HZ=250), at least 10 full frames.
  local burst=$((gw_mbps * 500)) n ns dev
  [ "$burst" -ge 15140 ] || burst=15140
  for n in $(seq 1 "$ns_count"); do
    ns=$ns_prefix$n dev=$peer_prefix$n
    [ "$n" = 1 ] || ip netns add "$ns"
    ip link add "$veth_prefix$n" type veth peer name "$dev" netns "$ns"
    ip link set "$veth_prefix$n" master "$bridge" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$subnet.$((10 + n))/24" dev "$dev"
    ip -n "$ns" link set "$dev" up
    # Egress of the gateway: to the WAN address capped (1:10), the rest
    # (S3 through the bridge's region address, control replies) unshaped (1:20).
    ip netns exec "$ns" tc qdisc add dev "$dev" root handle 1: htb default 20
    ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:10 htb \
      rate "${gw_mbps}mbit" ceil "${gw_mbps}mbit" burst "$burst" cburst "$burst" quantum 60000
    ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:20 htb \
      rate 100gbit ceil 100gbit burst 4mb cburst 4mb quantum 60000
    ip netns exec "$ns" tc filter add dev "$dev" parent 1: protocol ip prio 1 u32 \
      match ip dst "$subnet.254/32" flowid 1:10
  done
  # Every bridge port forwards before anything uses it.
  for n in $(seq 1 "$ns_count"); do
    for _ in $(seq 1 50); do
      [ "$(cat "/sys/class/net/$veth_prefix$n/operstate" 2>/dev/null)" != up ] || break
      sleep 0.1
    done
  done
}

stop_lab() {
  for name in versitygw-src versitygw-dst toxiproxy; do
    if [ -f "$run/$name.pid" ]; then
      kill "$(cat "$run/$name.pid")" 2>/dev/null || true
      rm -f "$run/$name.pid"
    fi
  done
  stop_netns
  sleep 0.2
  rm -rf "$run/src" "$run/dst" "$tools/lab.env"
}

# stop_netns removes the namespaces, veths and bridge (whatever of them
# exists: safe after a failed start, and when there is nothing to remove).
stop_netns() {
  command -v ip >/dev/null 2>&1 || return 0
  local ns pid link
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$ns_prefix[0-9]+$" || true); do
    # Anything still running inside a lab namespace (a gateway a killed
    # client left behind) keeps it alive: stop it.
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do
      kill "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 |
    grep -E "^$veth_prefix[0-9]+$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  if ip link show "$bridge" >/dev/null 2>&1; then
    ip link del "$bridge" 2>/dev/null || log "could not delete bridge $bridge"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_lab ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
