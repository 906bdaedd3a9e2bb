#!/usr/bin/env bash
# DKV against Redis, side by side, with redis-benchmark and a 1M-key memory load.
#
#   bench/compare-redis.sh [-n REQUESTS] [-k KEYS] [-c CLIENTS] [-P PIPELINE] [--no-build]
#                          [--skip-throughput] [--skip-memory] [--tls]
#
# Environment (flags win): N (requests per redis-benchmark test, default 100000), KEYS (keys
# loaded for the memory figure, default 1000000), CLIENTS (50), PIPELINE (16),
# BUILD_DIR (build-bench), VALUE_SIZE (100).
#
# Builds dkv-server (Release) in its own build directory, starts three servers on free loopback
# ports — redis-server without persistence, redis-server with appendonly yes + appendfsync
# always, dkv-server on a fresh temporary data directory — runs redis-benchmark -t set,get,incr
# against each (without pipelining, then with -P), then loads KEYS distinct keys with VALUE_SIZE
# byte values into each (redis-cli --pipe) and reports the memory per key. Prints Markdown tables
# and whether the targets are met. With --tls every server speaks only TLS on its client port
# (certificates made with openssl in the temporary directory; no client certificates) and every
# redis-benchmark / redis-cli run uses it. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

N=${N:-100000}
KEYS=${KEYS:-1000000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
VALUE_SIZE=${VALUE_SIZE:-100}
BUILD_DIR=${BUILD_DIR:-build-bench}
build=1
throughput=1
memory=1
tls=0

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -k) KEYS=$2; shift 2 ;;
    -c) CLIENTS=$2; shift 2 ;;
    -P) PIPELINE=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --skip-throughput) throughput=0; shift ;;
    --skip-memory) memory=0; shift ;;
    --tls) tls=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done

for tool in redis-server redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "compare-redis: $tool not found (scripts/setup installs it)" >&2; exit 1; }
done

if [ "$build" = 1 ]; then
  echo "== building dkv-server (Release) in $BUILD_DIR" >&2
  cmake -S "$root" -B "$root/$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$root/$BUILD_DIR" -j "$(nproc)" dkv-server >&2
fi
dkv_server="$root/$BUILD_DIR/src/server/dkv-server"
[ -x "$dkv_server" ] || dkv_server=$(find "$root/$BUILD_DIR" -name dkv-server -type f -perm -u+x | head -1)
[ -x "$dkv_server" ] || { echo "compare-redis: no dkv-server under $BUILD_DIR" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_setup compare-redis

# With --tls: a CA and a server certificate for 127.0.0.1; the flags each program takes.
cli_tls=()
redis_tls=()
dkv_tls=()
if [ "$tls" = 1 ]; then
  mkdir -p "$tmp/tls"
  (
    cd "$tmp/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=bench 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext 2>/dev/null
  )
  cli_tls=(--tls --cacert "$tmp/tls/ca.crt")
  redis_tls=(--tls-cert-file "$tmp/tls/server.crt" --tls-key-file "$tmp/tls/server.key" --tls-ca-cert-file "$tmp/tls/ca.crt" --tls-auth-clients no)
  dkv_tls=(--tls-clients --tls-cert-file "$tmp/tls/server.crt" --tls-key-file "$tmp/tls/server.key")
fi

start_redis() {  # name port extra-args...
  local name=$1 port=$2
  shift 2
  mkdir -p "$tmp/$name"
  local listen=(--port "$port")
  [ "$tls" = 1 ] && listen=(--port 0 --tls-port "$port" "${redis_tls[@]}")
  redis-server "${listen[@]}" --bind 127.0.0.1 --save "" --dir "$tmp/$name" --daemonize no "$@" \
    >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
  wait_ping "$port" "${cli_tls[@]}"
}

port_nopersist=$(free_port)
start_redis nopersist "$port_nopersist" --appendonly no
port_always=$(free_port)
start_redis always "$port_always" --appendonly yes --appendfsync always

port_dkv=$(free_port)
"$dkv_server" --data-dir "$tmp/dkv-data" --listen "127.0.0.1:$port_dkv" --raft-listen 127.0.0.1:0 \
  --admin-listen 127.0.0.1:0 "${dkv_tls[@]}" >"$tmp/dkv.log" 2>&1 &
pids+=($!)
pid_dkv=$!
wait_ping "$port_dkv" "${cli_tls[@]}"

names=(nopersist always dkv)
declare -A port=([nopersist]=$port_nopersist [always]=$port_always [dkv]=$port_dkv)
declare -A pid=([nopersist]=$pid_nopersist [always]=$pid_always [dkv]=$pid_dkv)
declare -A label=([nopersist]="redis (no persistence)" [always]="redis (appendfsync always)" [dkv]="DKV")

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b>0 else 'n/a')" "$1" "$2"; }
meets() { python3 -c "import sys; print('met' if float(sys.argv[1])>=float(sys.argv[2]) else 'MISSED')" "$1" "$2"; }

echo "# DKV vs Redis$([ "$tls" = 1 ] && echo ", both over TLS"), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GB;" \
  "redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

declare -A rps
if [ "$throughput" = 1 ]; then
  for pipe in 1 "$PIPELINE"; do
    for s in "${names[@]}"; do
      echo "== redis-benchmark -c $CLIENTS -n $N -P $pipe -t set,get,incr against ${label[$s]}" >&2
      out=$(redis-benchmark -h 127.0.0.1 -p "${port[$s]}" "${cli_tls[@]}" -c "$CLIENTS" -n "$N" -P "$pipe" -t set,get,incr --csv 2>/dev/null)
      # "SET","81234.56",... -> rps[SET,1,dkv]=81234.56
      while IFS=, read -r test value _; do
        test=${test//\"/}
        value=${value//\"/}
        case "$test" in SET|GET|INCR) rps[$test,$pipe,$s]=$value ;; esac
      done <<<"$out"
    done
  done
  echo "## Throughput (requests/s; redis-benchmark -c $CLIENTS -n $N)"
  echo
  echo "| test | redis (no persistence) | redis (appendfsync always) | DKV | DKV / redis no-persist | DKV / redis always |"
  echo "|---|---:|---:|---:|---:|---:|"
  for pipe in 1 "$PIPELINE"; do
    for t in SET GET INCR; do
      a=${rps[$t,$pipe,nopersist]:-0} b=${rps[$t,$pipe,always]:-0} d=${rps[$t,$pipe,dkv]:-0}
      name=$t
      [ "$pipe" != 1 ] && name="$t -P $pipe"
      printf '| %s | %.0f | %.0f | %.0f | %s | %s |\n' "$name" "$a" "$b" "$d" "$(ratio "$d" "$a")" "$(ratio "$d" "$b")"
    done
  done
  echo
  echo "Load after the throughput runs: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
fi

rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
used_memory() { redis-cli -p "$1" "${cli_tls[@]}" info memory | tr -d '\r' | awk -F: '/^used_memory:/{print $2}'; }

declare -A per_key_rss per_key_used
if [ "$memory" = 1 ]; then
  gen="$tmp/load.resp"
  echo "== generating $KEYS SETs with $VALUE_SIZE-byte values" >&2
  python3 - "$KEYS" "$VALUE_SIZE" "$gen" <<'EOF'
import sys
n, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(path, "wb", buffering=1 << 20) as f:
    for i in range(n):
        key = b"key:%d" % i
        value = (b"%d:" % i).ljust(size, b"v")[:size]
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
EOF
  # The memory figure is for keys in a server that has done nothing else: flush what the
  # throughput runs wrote, and restart DKV on a fresh data directory.
  redis-cli -p "$port_nopersist" "${cli_tls[@]}" flushall >/dev/null
  redis-cli -p "$port_always" "${cli_tls[@]}" flushall >/dev/null
  kill "$pid_dkv"; wait "$pid_dkv" 2>/dev/null || true
  rm -rf "$tmp/dkv-data"
  "$dkv_server" --data-dir "$tmp/dkv-data" --listen "127.0.0.1:$port_dkv" --raft-listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 "${dkv_tls[@]}" >>"$tmp/dkv.log" 2>&1 &
  pids+=($!)
  pid_dkv=$!
  pid[dkv]=$pid_dkv
  wait_ping "$port_dkv" "${cli_tls[@]}"

  echo "## Memory per key ($KEYS keys, $VALUE_SIZE-byte values, loaded with redis-cli --pipe)"
  echo
  echo "| server | RSS before | RSS after | RSS per key | used_memory per key | load time |"
  echo "|---|---:|---:|---:|---:|---:|"
  for s in "${names[@]}"; do
    echo "== loading ${label[$s]}" >&2
    rss0=$(rss_kb "${pid[$s]}")
    used0=$(used_memory "${port[$s]}")
    t0=$(date +%s.%N)
    if ! redis-cli -p "${port[$s]}" "${cli_tls[@]}" --pipe --pipe-timeout 120 <"$gen" >"$tmp/pipe-$s.log" 2>&1; then
      echo "compare-redis: loading ${label[$s]} failed:" >&2
      cat "$tmp/pipe-$s.log" >&2
      echo "| ${label[$s]} | load failed: $(tail -1 "$tmp/pipe-$s.log") | | | | |"
      continue
    fi
    t1=$(date +%s.%N)
    dbsize=$(redis-cli -p "${port[$s]}" "${cli_tls[@]}" dbsize)
    if [ "$dbsize" != "$KEYS" ]; then
      echo "| ${label[$s]} | holds $dbsize keys, not $KEYS | | | | |"
      continue
    fi
    rss1=$(rss_kb "${pid[$s]}")
    used1=$(used_memory "${port[$s]}")
    per_key_rss[$s]=$(python3 -c "print(f'{($rss1-$rss0)*1024/$KEYS:.1f}')")
    per_key_used[$s]=$(python3 -c "print(f'{($used1-$used0)/$KEYS:.1f}')")
    printf '| %s | %d MiB | %d MiB | %s B | %s B | %.1f s |\n' "${label[$s]}" $((rss0 / 1024)) $((rss1 / 1024)) \
      "${per_key_rss[$s]}" "${per_key_used[$s]}" "$(python3 -c "print($t1-$t0)")"
  done
  echo
  echo "RSS per key = (VmRSS after - before) / keys, from /proc/PID/status; used_memory is each server's"
  echo "INFO memory figure (Redis: its allocator's count; DKV: malloc's in-use bytes, mallinfo2)."
  echo
fi

echo "## Targets"
echo
echo "| target | figure | result |"
echo "|---|---:|---|"
if [ "$throughput" = 1 ]; then
  for pipe in 1 "$PIPELINE"; do
    suffix=""
    [ "$pipe" != 1 ] && suffix=" (-P $pipe)"
    r=$(ratio "${rps[GET,$pipe,dkv]:-0}" "${rps[GET,$pipe,nopersist]:-0}")
    echo "| GET >= 1.0x Redis$suffix | $r | $(meets "$r" 1.0) |"
    r=$(ratio "${rps[SET,$pipe,dkv]:-0}" "${rps[SET,$pipe,nopersist]:-0}")
    echo "| durable SET >= 0.8x Redis without persistence$suffix | $r | $(meets "$r" 0.8) |"
    r=$(ratio "${rps[SET,$pipe,dkv]:-0}" "${rps[SET,$pipe,always]:-0}")
    echo "| durable SET >= 1.5x Redis appendfsync always$suffix | $r | $(meets "$r" 1.5) |"
  done
fi
if [ "$memory" = 1 ] && [ -n "${per_key_rss[dkv]:-}" ] && [ -n "${per_key_rss[nopersist]:-}" ]; then
  r=$(python3 -c "print(f'{${per_key_rss[dkv]}/${per_key_rss[nopersist]}:.2f}')")
  echo "| memory per key <= Redis (RSS, $KEYS x $VALUE_SIZE B) | ${per_key_rss[dkv]} B vs ${per_key_rss[nopersist]} B ($r x) |" \
    "$(python3 -c "print('met' if ${per_key_rss[dkv]} <= ${per_key_rss[nopersist]} else 'MISSED')") |"
fi
echo
echo "Load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
