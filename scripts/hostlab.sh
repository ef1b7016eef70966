#!/usr/bin/env bash
# Host lab: regions of real SSH hosts on this machine, for the SSH provider
# (internal/compute/ssh) and docs/hosts.md. Root only.
#
#   scripts/hostlab.sh start   # build the lab, write .tools/hostlab.env
#   scripts/hostlab.sh stop    # remove everything start made (idempotent)
#
# Each host is a network namespace hl-<region>-h<n> with its own address on
# 10.232.50.0/24 (a /24 the lab owns: a bridge hlbr0 in this namespace,
# 10.232.50.1, and one veth per host), its own OpenSSH server (sshd -D -f
# <host dir>/sshd_config: own host key, port 22 inside the namespace, own
# authorized_keys, no passwords) and its own Unix user hl<region>h<n> whose
# home is .tools/hostlab/<host>/home (namespaces share the filesystem, so
# each host's files live under its own directory). Region rI's hosts are
# 10.232.50.(16*I+n), i.e. the /28 10.232.50.(16*I)/28.
#
# Parameters (environment):
#   LAB_REGIONS            number of regions r1..rN (default 2, max 14)
#   LAB_HOSTS_PER_REGION   hosts per region (default 2, max 14)
#   LAB_HOST_MBPS          each host's NIC cap for traffic leaving its region,
#                          both directions, Mbit/s (default 100)
#   LAB_RTT_MS             round-trip time between regions, ms (default 40)
#   LAB_FLOW_MBPS          per-connection cap between regions, Mbit/s (default 50)
#   LAB_DATA_PORTS         data ports per host, from 40000 (default 4): the
#                          inventory's data_ports, and the ports the WAN covers
#
# Shaping is applied outside the product: an htb qdisc on both ends of each
# host's veth caps traffic to or from anything outside the host's region
# (its own /28 and its region's S3 server stay unshaped). Between regions,
# connections to another region's data ports are sent (nftables DNAT in the
# sending host's namespace) through a toxiproxy on the bridge address, one
# proxy per destination host and port, which adds the latency (RTT/2 each
# way) and the per-connection cap; this kernel has no netem. SSH and S3 are
# not delayed. The receiving gateway sees connections from 10.232.50.1.
#
# Per region an S3 server (versitygw) listens on 10.232.50.1:<port>, reachable
# from every host. Nothing leaves the lab: namespaces have no default route.
#
# Writes .tools/hostlab.env (HOSTLAB_* variables: inventory, keys, hosts,
# S3 endpoints, buckets, credentials) and .tools/hostlab/hosts.yaml (an
# inventory in the format of internal/hosts).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools=$root/.tools
lab=$tools/hostlab
bin=$tools/bin
envfile=$tools/hostlab.env
subnet=10.232.50
bridge=hlbr0
regions=${LAB_REGIONS:-2}
per_region=${LAB_HOSTS_PER_REGION:-2}
host_mbps=${LAB_HOST_MBPS:-100}
rtt_ms=${LAB_RTT_MS:-40}
flow_mbps=${LAB_FLOW_MBPS:-50}
data_ports=${LAB_DATA_PORTS:-4}
data_base=40000
s3_key=hostlabkey
s3_secret=hostlabsecret

log() { echo "hostlab: $*" >&2; }

need_root() {
  [ "$(id -u)" = 0 ] || { log "must run as root (network namespaces, sshd, users)"; exit 1; }
}

check_params() {
  local v env
  for v in regions:LAB_REGIONS per_region:LAB_HOSTS_PER_REGION host_mbps:LAB_HOST_MBPS \
    rtt_ms:LAB_RTT_MS flow_mbps:LAB_FLOW_MBPS data_ports:LAB_DATA_PORTS; do
    env=${v#*:} v=${v%%:*}
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { log "bad $env=${!v}: want a whole number >= 1"; exit 1; }
  done
  [ "$regions" -le 14 ] || { log "LAB_REGIONS=$regions: at most 14"; exit 1; }
  [ "$per_region" -le 14 ] || { log "LAB_HOSTS_PER_REGION=$per_region: at most 14"; exit 1; }
  [ "$data_ports" -le 100 ] || { log "LAB_DATA_PORTS=$data_ports: at most 100"; exit 1; }
}

tox() { # method path [json]
  curl -fsS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$tox_api$2" >/dev/null
}

# wan sends every connection to another region's data ports through
# toxiproxy: one proxy per destination host and port, and in each host a
# DNAT rule per destination outside its region.
wan() {
  local tox_port
  tox_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  "$bin/toxiproxy-server" -host 127.0.0.1 -port "$tox_port" >"$lab/toxiproxy.log" 2>&1 </dev/null &
  echo $! >"$lab/toxiproxy.pid"
  tox_api=http://127.0.0.1:$tox_port
  wait_tcp toxiproxy "" 127.0.0.1 "$tox_port" "$lab/toxiproxy.log"
  local half=$((rtt_ms / 2)) rate=$((flow_mbps * 1000 / 8)) stream kind
  declare -A proxy
  local r n name ns user ip veth p lport
  while read -r r n name ns user ip veth; do
    for p in $(seq "$data_base" $((data_base + data_ports - 1))); do
      take_port
      lport=$next_port
      proxy[$ip:$p]=$lport
      tox POST /proxies "{\"name\":\"$name-$p\",\"listen\":\"$subnet.1:$lport\",\"upstream\":\"$ip:$p\",\"enabled\":true}"
      for stream in upstream downstream; do
        tox POST "/proxies/$name-$p/toxics" "{\"name\":\"lat-$stream\",\"type\":\"latency\",\"stream\":\"$stream\",\"attributes\":{\"latency\":$half}}"
        tox POST "/proxies/$name-$p/toxics" "{\"name\":\"bw-$stream\",\"type\":\"bandwidth\",\"stream\":\"$stream\",\"attributes\":{\"rate\":$rate}}"
      done
    done
  done < <(hosts)
  local r2 n2 name2 ns2 user2 ip2 veth2 rules
  while read -r r n name ns user ip veth; do
    rules=
    while read -r r2 n2 name2 ns2 user2 ip2 veth2; do
      [ "$r2" != "$r" ] || continue
      for p in $(seq "$data_base" $((data_base + data_ports - 1))); do
        rules+="    ip daddr $ip2 tcp dport $p dnat to $subnet.1:${proxy[$ip2:$p]}"$'\n'
      done
    done < <(hosts)
    [ -n "$rules" ] || continue
    printf 'table ip hostlab {\n  chain out {\n    type nat hook output priority -100; policy accept;\n%s  }\n}\n' "$rules" |
      ip netns exec "$ns" nft -f -
  done < <(hosts)
}

# install_deps installs what the lab needs without starting the machine's
# own sshd: a policy-rc.d that denies service starts is in place during the
# install (and removed after, unless one was there already).
install_deps() {
  local missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || missing+=(iproute2)
  command -v nft >/dev/null 2>&1 || missing+=(nftables)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]} (apt-get)"
  local policy=/usr/sbin/policy-rc.d made=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || rc=$?
  }
  [ -z "$made" ] || rm -f "$policy"
  [ "$rc" = 0 ] || { log "apt-get install ${missing[*]} failed"; exit 1; }
}

# Ports on the lab's bridge address (10.232.50.1, which only the lab
# binds): S3 servers from 20001, proxies from 21000; below the ephemeral
# range so no outgoing connection holds one.
next_port=21000
take_port() { next_port=$((next_port + 1)); }

wait_tcp() { # name ns-or-empty ip port logfile
  local i
  for i in $(seq 1 100); do
    if [ -n "$2" ]; then
      ip netns exec "$2" bash -c "exec 3<>/dev/tcp/$3/$4" 2>/dev/null && return 0
    else
      (exec 3<>"/dev/tcp/$3/$4") 2>/dev/null && return 0
    fi
    sleep 0.1
  done
  log "$1 did not listen on $3:$4; its log:"; cat "$5" >&2 || true; return 1
}

# hosts prints "region n name ns user ip veth" for every lab host.
hosts() {
  local r n
  for r in $(seq 1 "$regions"); do
    for n in $(seq 1 "$per_region"); do
      echo "$r $n r$r-h$n hl-r$r-h$n hlr${r}h$n $subnet.$((16 * r + n)) hlv-r${r}h$n"
    done
  done
}

# shape DEV NS(empty: this one) dst|src REGION-NET dport|sport S3-PORT: htb
# on DEV; traffic whose other end is outside the region is capped at
# host_mbps (1:10), traffic within the region or with its S3 server is not
# (1:20). The host side matches destinations, the bridge side sources.
shape() {
  local dev=$1 ns=$2 sel=$3 net=$4 s3sel=$5 s3port=$6 burst=$((host_mbps * 500))
  [ "$burst" -ge 15140 ] || burst=15140
  local tc=(tc)
  [ -z "$ns" ] || tc=(ip netns exec "$ns" tc)
  "${tc[@]}" qdisc add dev "$dev" root handle 1: htb default 10
  "${tc[@]}" class add dev "$dev" parent 1: classid 1:10 htb \
    rate "${host_mbps}mbit" ceil "${host_mbps}mbit" burst "$burst" cburst "$burst" quantum 60000
  "${tc[@]}" class add dev "$dev" parent 1: classid 1:20 htb \
    rate 100gbit ceil 100gbit burst 4mb cburst 4mb quantum 60000
  "${tc[@]}" filter add dev "$dev" parent 1: protocol ip prio 1 u32 match ip "$sel" "$net" flowid 1:20
  "${tc[@]}" filter add dev "$dev" parent 1: protocol ip prio 2 u32 match ip "$sel" "$subnet.1/32" \
    match ip "$s3sel" "$s3port" 0xffff flowid 1:20
}

start() {
  need_root
  check_params
  if [ ! -x "$bin/versitygw" ] || [ ! -x "$bin/toxiproxy-server" ]; then
    log "servers missing: running scripts/test-servers.sh install"
    SKYPLANE_TOOLS_DIR=$tools "$root/scripts/test-servers.sh" install
  fi
  install_deps
  stop
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed (exit $rc): cleaning up"; stop; fi' EXIT
  mkdir -p "$lab"
  chmod 755 "$lab"
  # sshd wants its privilege-separation directory; remember if we made it.
  if [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd && touch "$lab/.made-run-sshd"; fi

  ssh-keygen -q -t ed25519 -N '' -C hostlab-client -f "$lab/client_ed25519"
  : >"$lab/known_hosts"

  ip link add "$bridge" type bridge
  ip addr add "$subnet.1/24" dev "$bridge"
  ip link set "$bridge" up

  # S3 servers first: shaping matches their ports.
  local r port
  declare -A s3port
  for r in $(seq 1 "$regions"); do
    port=$((20000 + r))
    s3port[$r]=$port
    mkdir -p "$lab/s3-r$r/bucket-r$r"
    "$bin/versitygw" --port "$subnet.1:$port" --access "$s3_key" --secret "$s3_secret" \
      --region "lab-r$r" posix "$lab/s3-r$r" >"$lab/versitygw-r$r.log" 2>&1 </dev/null &
    echo $! >"$lab/versitygw-r$r.pid"
  done

  local n name ns user ip veth dir home
  local inv=$lab/hosts.yaml
  {
    echo "# Written by scripts/hostlab.sh: the lab's hosts (format: docs/hosts.md)."
    echo "defaults:"
    echo "  identity_file: $lab/client_ed25519"
    echo "  known_hosts: $lab/known_hosts"
    echo "regions:"
  } >"$inv"
  local cur=
  while read -r r n name ns user ip veth; do
    dir=$lab/$name home=$lab/$name/home
    mkdir -p "$home"
    useradd -M -d "$home" -s /bin/sh -p '*' -c "skyplane hostlab $name" "$user"
    chown "$user:" "$home" && chmod 700 "$home"
    ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$dir/ssh_host_ed25519_key"
    cp "$lab/client_ed25519.pub" "$dir/authorized_keys" && chmod 644 "$dir/authorized_keys"
    echo "$ip $(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" >>"$lab/known_hosts"
    cat >"$dir/sshd_config" <<EOF
Port 22
ListenAddress $ip
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $user
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
StrictModes no
AllowTcpForwarding local
X11Forwarding no
PermitTTY no
Subsystem sftp internal-sftp
EOF
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$bridge" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    local net=$subnet.$((16 * r))/28
    shape eth0 "$ns" dst "$net" dport "${s3port[$r]}"
    shape "$veth" "" src "$net" sport "${s3port[$r]}"
    # Detached from this script's output: a caller reading it (a test's
    # TestMain) must see it end when the script does.
    ip netns exec "$ns" /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/sshd.launcher.pid"
    if [ "$cur" != "$r" ]; then echo "  aws:lab-r$r:" >>"$inv"; cur=$r; fi
    {
      echo "    - name: $name"
      echo "      address: $ip"
      echo "      user: $user"
      echo "      data_ports: $data_base-$((data_base + data_ports - 1))"
    } >>"$inv"
  done < <(hosts)
  chmod 644 "$lab/known_hosts" "$inv"

  for r in $(seq 1 "$regions"); do
    wait_tcp "versitygw-r$r" "" "$subnet.1" "${s3port[$r]}" "$lab/versitygw-r$r.log"
  done
  while read -r r n name ns user ip veth; do
    wait_tcp "sshd $name" "$ns" "$ip" 22 "$lab/$name/sshd.log"
  done < <(hosts)
  wan

  {
    echo "# Written by scripts/hostlab.sh start; removed by stop."
    echo "HOSTLAB_DIR=$lab"
    echo "HOSTLAB_INVENTORY=$inv"
    echo "HOSTLAB_IDENTITY=$lab/client_ed25519"
    echo "HOSTLAB_KNOWN_HOSTS=$lab/known_hosts"
    echo "HOSTLAB_HOST_MBPS=$host_mbps"
    echo "HOSTLAB_RTT_MS=$rtt_ms"
    echo "HOSTLAB_FLOW_MBPS=$flow_mbps"
    echo "HOSTLAB_DATA_PORTS=$data_base-$((data_base + data_ports - 1))"
    echo "HOSTLAB_S3_ACCESS_KEY=$s3_key"
    echo "HOSTLAB_S3_SECRET_KEY=$s3_secret"
    echo -n "HOSTLAB_HOSTS=\""
    hosts | awk '{printf "%s%s=%s=%s=%s", (NR>1?" ":""), $3, $4, $5, $6}'
    echo "\""
    for r in $(seq 1 "$regions"); do
      echo "HOSTLAB_S3_ENDPOINT_R$r=http://$subnet.1:${s3port[$r]}"
      echo "HOSTLAB_S3_REGION_R$r=lab-r$r"
      echo "HOSTLAB_BUCKET_R$r=bucket-r$r"
    done
  } >"$envfile"
  trap - EXIT
  log "started $regions regions x $per_region hosts; see $envfile"
}

stop() {
  need_root
  local ns pid f user link
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^hl-r[0-9]+-h[0-9]+$' || true); do
    # Everything inside a host (its sshd, gateways left behind) goes with it.
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
  done
  for f in "$lab"/versitygw-r*.pid "$lab/toxiproxy.pid"; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^hlv-r[0-9]+h[0-9]+$' || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  for user in $(awk -F: '$5 ~ /^skyplane hostlab / {print $1}' /etc/passwd); do
    userdel "$user" 2>/dev/null || log "could not delete user $user"
  done
  if [ -f "$lab/.made-run-sshd" ]; then rmdir /run/sshd 2>/dev/null || true; fi
  sleep 0.2
  rm -rf "$lab" "$envfile"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
