#!/usr/bin/env bash
# DKV against its peers in one run: redis-server without persistence, redis-server with
# appendfsync always, a single DKV node and a three-node DKV cluster, each under the same
# dkv-bench profiles (ReadHeavy, WriteHeavy, Mixed, INCR). Then DKV's own commands, which Redis
# lacks, on the single node and the cluster: txn, query, lease keep-alive and watch fan-out
# (1 writer, 10 watchers). Writes a Markdown table and a PNG chart (gnuplot) to bench/results/
# and prints the table.
#
#   bench/compare.sh [--duration SECONDS] [--connections N] [--no-build]
#
# Builds dkv-server and dkv-bench (Release) in build-bench/; installs gnuplot (Debian's
# gnuplot-nox) if missing. The cluster is driven through all three members (dkv-bench spreads
# its connections over them; followers forward writes). Everything it starts is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
BUILD_DIR=${BUILD_DIR:-build-bench}
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
for tool in redis-server redis-cli /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool not found (scripts/setup installs it)" >&2; exit 1; }
done
if ! command -v gnuplot >/dev/null; then
  echo "compare.sh: installing gnuplot-nox for the chart" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi
if [ "$build" = 1 ]; then
  cmake -S "$root" -B "$root/$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$root/$BUILD_DIR" -j "$(nproc)" dkv-server dkv-bench >&2
fi
server="$root/$BUILD_DIR/src/server/dkv-server"
benchtool="$root/$BUILD_DIR/tools/dkv-bench"

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_setup compare

redis_plain=$(free_port); redis_always=$(free_port)
redis-server --port "$redis_plain" --save '' --appendonly no --dir "$tmp" --dbfilename plain.rdb >"$tmp/redis-plain.log" 2>&1 &
pids+=($!)
mkdir -p "$tmp/always"
redis-server --port "$redis_always" --save '' --appendonly yes --appendfsync always --dir "$tmp/always" >"$tmp/redis-always.log" 2>&1 &
pids+=($!)
single=$(free_port)
"$server" --data-dir "$tmp/single" --listen "127.0.0.1:$single" --raft-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  >"$tmp/single.log" 2>&1 &
pids+=($!)
declare -A cport rport
bootstrap=""
for id in 1 2 3; do
  cport[$id]=$(free_port); rport[$id]=$(free_port)
  bootstrap+="${bootstrap:+,}$id=127.0.0.1:${rport[$id]}"
done
for id in 1 2 3; do
  "$server" --data-dir "$tmp/m$id" --node-id "$id" --bootstrap "$bootstrap" --listen "127.0.0.1:${cport[$id]}" \
    --raft-listen "127.0.0.1:${rport[$id]}" --admin-listen 127.0.0.1:0 >"$tmp/m$id.log" 2>&1 &
  pids+=($!)
done
for p in "$redis_plain" "$redis_always" "$single" "${cport[1]}" "${cport[2]}" "${cport[3]}"; do wait_ping "$p"; done
for _ in $(seq 100); do  # the cluster has a leader that serves reads
  redis-cli -p "${cport[1]}" dbsize 2>/dev/null | grep -qE '^[0-9]+$' && break
  sleep 0.1
done

systems=("redis (no persistence)" "redis (appendfsync always)" "DKV single node" "DKV 3-node cluster")
targets=("--target redis://127.0.0.1:$redis_plain" "--target redis://127.0.0.1:$redis_always"
         "--endpoints 127.0.0.1:$single" "--endpoints 127.0.0.1:${cport[1]},127.0.0.1:${cport[2]},127.0.0.1:${cport[3]}")
profiles=("ReadHeavy" "WriteHeavy" "Mixed" "counter")
declare -A ops p99
for s in 0 1 2 3; do
  for prof in "${profiles[@]}"; do
    mode="--profile $prof"; [ "$prof" = counter ] && mode="--op counter"
    # shellcheck disable=SC2086
    json=$("$benchtool" ${targets[$s]} $mode --duration "$DURATION" --warmup 1 --connections "$CONNECTIONS" --json 2>/dev/null || true)
    ops[$s,$prof]=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read() or "{}"); print(d.get("ops_per_sec",0))' <<<"$json")
    p99[$s,$prof]=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read() or "{}"); print(d.get("latency_us",{}).get("p99",0))' <<<"$json")
  done
done

dkv_ops=("txn" "query" "lease" "watch")
for s in 2 3; do
  for op in "${dkv_ops[@]}"; do
    conns=$CONNECTIONS; [ "$op" = watch ] && conns=11
    # shellcheck disable=SC2086
    json=$("$benchtool" ${targets[$s]} --op "$op" --duration "$DURATION" --warmup 1 --connections "$conns" --json 2>/dev/null || true)
    ops[$s,$op]=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read() or "{}"); print(d.get("ops_per_sec",0))' <<<"$json")
    p99[$s,$op]=$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read() or "{}"); print(d.get("latency_us",{}).get("p99",0))' <<<"$json")
  done
done

mkdir -p "$root/bench/results"
stamp=$(date -u '+%Y-%m-%d %H:%M UTC')
table="$root/bench/results/compare.md"
ratio() { /usr/bin/python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else '-')" "$1" "$2"; }
{
  echo "# DKV vs Redis, one run, $stamp"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load before: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "dkv-bench, $CONNECTIONS connections, ${DURATION} s per test after 1 s of warm-up, 10000 keys, 100-byte values."
  echo "Every system runs on this machine at once (idle but for the test); DKV and Redis (always) fsync each write batch."
  echo
  echo "| profile | ${systems[0]} | ${systems[1]} | ${systems[2]} | ${systems[3]} | single / redis | single / redis always | cluster / single |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for prof in "${profiles[@]}"; do
    echo "| $prof (ops/s; p99 us) | ${ops[0,$prof]}; ${p99[0,$prof]} | ${ops[1,$prof]}; ${p99[1,$prof]} | ${ops[2,$prof]}; ${p99[2,$prof]} | ${ops[3,$prof]}; ${p99[3,$prof]} | $(ratio "${ops[2,$prof]}" "${ops[0,$prof]}") | $(ratio "${ops[2,$prof]}" "${ops[1,$prof]}") | $(ratio "${ops[3,$prof]}" "${ops[2,$prof]}") |"
  done
  echo
  echo "DKV's own commands (no Redis equivalent): txn = TXN.COMMIT writing two keys; query = QUERY by one label,"
  echo "10 keys a page, over 10000 labelled keys; lease = LEASE.KEEPALIVE; watch = 1 writer and 10 watchers of its"
  echo "prefix (ops = events delivered; latency = from a write's sending to its event's arrival)."
  echo
  echo "| op | ${systems[2]} | ${systems[3]} | cluster / single |"
  echo "|---|---:|---:|---:|"
  for op in "${dkv_ops[@]}"; do
    echo "| $op (ops/s; p99 us) | ${ops[2,$op]}; ${p99[2,$op]} | ${ops[3,$op]}; ${p99[3,$op]} | $(ratio "${ops[3,$op]}" "${ops[2,$op]}") |"
  done
} >"$table"

data="$tmp/chart.dat"
{
  for prof in "${profiles[@]}"; do echo "$prof ${ops[0,$prof]} ${ops[1,$prof]} ${ops[2,$prof]} ${ops[3,$prof]}"; done
} >"$data"
gnuplot <<GNUPLOT
set terminal pngcairo size 900,500 noenhanced
set output "$root/bench/results/compare.png"
set title "DKV vs Redis, ops/s (dkv-bench, $CONNECTIONS connections), $stamp"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "ops/s"
set yrange [0:*]
set offsets 0, 0, graph 0.25, 0
set key top left
set grid ytics
plot "$data" using 2:xtic(1) title "redis (no persistence)", '' using 3 title "redis (appendfsync always)", \
     '' using 4 title "DKV single node", '' using 5 title "DKV 3-node cluster"
GNUPLOT
cat "$table"
echo
echo "wrote $table and bench/results/compare.png"
