#!/usr/bin/env bash
# A three-node DKV cluster against a single node, in one run, and failover times.
#
#   bench/cluster.sh [-n REQUESTS] [-c CLIENTS] [-k KILLS] [--no-build]
#
# Builds dkv-server (Release) in build-bench/, starts a single node and a three-node cluster on
# loopback (fresh data directories), runs redis-benchmark -c CLIENTS -t set,get against the
# single node and against the cluster's leader, then against a follower (which forwards writes
# and asks the leader for read indexes), and prints the ratios to the single node. Then, KILLS
# times: kill -9 of the leader, and the time until a write succeeds through any member (a client
# that tries each member in turn, as any Redis client with a list of nodes would), and whether
# every write acknowledged before the kill is still there. Everything it starts is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

N=${N:-100000}
CLIENTS=${CLIENTS:-50}
KILLS=${KILLS:-5}
BUILD_DIR=${BUILD_DIR:-build-bench}
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -c) CLIENTS=$2; shift 2 ;;
    -k) KILLS=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for tool in redis-benchmark redis-cli /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "cluster.sh: $tool not found (scripts/setup installs it)" >&2; exit 1; }
done
if [ "$build" = 1 ]; then
  cmake -S "$root" -B "$root/$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$root/$BUILD_DIR" -j "$(nproc)" dkv-server >&2
fi
server="$root/$BUILD_DIR/src/server/dkv-server"

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_setup cluster
declare -A pid  # by role, for the kills; every pid also goes into pids for the clean-up

single_port=$(free_port)
"$server" --data-dir "$tmp/single" --listen "127.0.0.1:$single_port" --raft-listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 >"$tmp/single.log" 2>&1 &
pid[single]=$!
pids+=($!)
wait_ping "$single_port"

declare -A cport rport
bootstrap=""
for id in 1 2 3; do
  cport[$id]=$(free_port); rport[$id]=$(free_port)
  bootstrap+="${bootstrap:+,}$id=127.0.0.1:${rport[$id]}"
done
start_member() {
  "$server" --data-dir "$tmp/m$1" --node-id "$1" --bootstrap "$bootstrap" --listen "127.0.0.1:${cport[$1]}" \
    --raft-listen "127.0.0.1:${rport[$1]}" --admin-listen 127.0.0.1:0 >>"$tmp/m$1.log" 2>&1 &
  pid[m$1]=$!
  pids+=($!)
}
for id in 1 2 3; do start_member "$id"; done
for id in 1 2 3; do wait_ping "${cport[$id]}"; done
leader() {  # the member whose INFO says it leads
  for _ in $(seq 300); do
    for id in 1 2 3; do
      if redis-cli -p "${cport[$id]}" info cluster 2>/dev/null | tr -d '\r' | grep -q '^role:leader'; then
        echo "$id"; return 0
      fi
    done
    sleep 0.05
  done
  return 1
}
L=$(leader)
F=$(( L % 3 + 1 ))

bench() {  # port test -> requests/s
  redis-benchmark -p "$1" -c "$CLIENTS" -n "$N" -t "$2" --csv 2>/dev/null | awk -F'"' 'NR==2{print $4}'
}
ratio() { /usr/bin/python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }

echo "# DKV: three-node cluster vs single node, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## Throughput (requests/s; redis-benchmark -c $CLIENTS -n $N)"
echo
echo "| test | single node | cluster, via leader | cluster, via a follower | leader / single | follower / single |"
echo "|---|---:|---:|---:|---:|---:|"
for t in set get; do
  s=$(bench "$single_port" $t); l=$(bench "${cport[$L]}" $t); f=$(bench "${cport[$F]}" $t)
  printf '| %s | %.0f | %.0f | %.0f | %s | %s |\n' "${t^^}" "$s" "$l" "$f" "$(ratio "$l" "$s")" "$(ratio "$f" "$s")"
done
echo

echo "## Failover: kill -9 of the leader until the first successful write through any member"
echo
echo "| round | killed leader | first write after | new leader | acknowledged writes lost |"
echo "|---:|---:|---:|---:|---:|"
for round in $(seq "$KILLS"); do
  L=$(leader)
  out=$(/usr/bin/python3 - "$L" "${pid[m$L]}" "${cport[1]}" "${cport[2]}" "${cport[3]}" "$round" <<'EOF'
import os, signal, sys, time
import redis
leader, leader_pid, ports, rnd = int(sys.argv[1]), int(sys.argv[2]), [int(p) for p in sys.argv[3:6]], sys.argv[6]
clients = [redis.Redis(port=p, socket_timeout=1, socket_connect_timeout=0.2) for p in ports]
acked = []
for i in range(200):  # acknowledged writes before the kill, through the leader
    k = f"fo:{rnd}:{i}"
    clients[leader - 1].set(k, i)
    acked.append(k)
os.kill(leader_pid, signal.SIGKILL)
t0 = time.monotonic()
done = None
while done is None and time.monotonic() - t0 < 30:
    for m, c in enumerate(clients, 1):
        if m == leader:
            continue
        try:
            c.set(f"fo:{rnd}:after", 1)
            done = time.monotonic() - t0
            break
        except Exception:
            pass
lost = sum(1 for k in acked if clients[(leader % 3)].get(k) is None)
print(f"{done:.3f} {lost}" if done is not None else f"timeout {lost}")
EOF
)
  wait "${pid[m$L]}" 2>/dev/null || true
  start_member "$L"
  wait_ping "${cport[$L]}"
  N2=$(leader)
  printf '| %d | %d | %s s | %d | %s |\n' "$round" "$L" "${out% *}" "$N2" "${out#* }"
done
echo
echo "Load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
