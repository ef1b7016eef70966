# Shared by scripts/test-servers.sh and scripts/lab.sh (sourced, not run).
# Expects $run (the directory holding <name>.log) and a log function.

# free_port prints a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port NAME PORT waits up to 30 s for 127.0.0.1:PORT to accept
# connections, else prints NAME's log and fails.
wait_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$1 did not start listening on 127.0.0.1:$2; its log:"; cat "$run/$1.log" >&2; return 1
}
