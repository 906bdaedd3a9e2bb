# Shared by the bench/ scripts (sourced): a temporary directory and the processes started in
# it, both gone on exit, and helpers to pick ports and wait for servers.
#   bench_setup NAME   creates $tmp and the exit trap; append every started pid to pids.

bench_setup() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/dkv-$1-XXXXXX")
  bench_name=$1
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}

# A loopback port that was free a moment ago.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until the server on port $1 answers PING (up to 30 s).
wait_ping() {  # port [redis-cli flags, e.g. --tls --cacert FILE]
  local port=$1
  shift
  for _ in $(seq 300); do [ "$(redis-cli -p "$port" "$@" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done
  echo "$bench_name: nothing answers on port $port" >&2
  return 1
}
