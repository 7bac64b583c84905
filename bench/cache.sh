#!/usr/bin/env bash
# egressd cache benchmark (W7): a hot set of 1,000 cacheable 10 KiB objects under
# keep-alive load, served from egressd's memory cache, from Squid's memory cache
# (cache_mem sized to hold them) and directly by nginx, in one run. Run by hand
# (see bench/README.md), never in CI.
#
# Every connection targets loopback only (127.0.0.1). Everything runs from a temp dir;
# the processes this script starts are stopped by PID on exit.
#
# The coalescing property (200 concurrent misses for one URL → 1 origin request) is
# checked by test/cache-coalesce-stream.test.ts, not here.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

DURATION=${BENCH_DURATION:-10}        # seconds per measured run
RUNS=${BENCH_RUNS:-3}                 # runs per target; the table shows the median
TARGETS=${BENCH_TARGETS:-"direct egressd squid"}
OBJECTS=${BENCH_OBJECTS:-1000}
OBJECT_KIB=${BENCH_OBJECT_KIB:-10}
CONNS=${BENCH_CONNS:-64}
WARMUP=${BENCH_WARMUP:-3}             # seconds of load before measuring (fills the caches)
WRK_THREADS=${BENCH_WRK_THREADS:-1}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
BUILD=${BENCH_BUILD:-1}               # 0: skip `npx tsc -p .`
KEEP_TMP=${BENCH_KEEP_TMP:-0}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$BENCH_DIR/results}

LOOP=127.0.0.1

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

for v in DURATION RUNS OBJECTS OBJECT_KIB CONNS WARMUP WRK_THREADS PROXY_CPU LOAD_CPU; do
  is_uint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
(( DURATION >= 1 && RUNS >= 1 && OBJECTS >= 1 && CONNS >= 1 )) || die "BENCH_DURATION, BENCH_RUNS, BENCH_OBJECTS and BENCH_CONNS must be >= 1"
for t in $TARGETS; do
  case $t in direct|egressd|squid) ;; *) die "unknown target '$t' in BENCH_TARGETS (direct egressd squid)";; esac
done

missing=()
command -v nginx >/dev/null || missing+=(nginx)
command -v squid >/dev/null || missing+=(squid)
command -v wrk >/dev/null || missing+=(wrk)
apt_install "${missing[@]}"
for c in nginx squid wrk taskset node curl timeout; do
  command -v "$c" >/dev/null || die "$c not found"
done
NCPU=$(nproc)
if (( NCPU < 2 )); then
  log "bench: WARNING only $NCPU CPU: numbers are not comparable"
  PROXY_CPU=0; LOAD_CPU=0
fi
taskset -pc "$LOAD_CPU" $$ >/dev/null

TMP=$(mktemp -d /tmp/egressd-bench-cache.XXXXXX)
chmod 755 "$TMP"
RAW=$TMP/raw
mkdir -p "$RAW" "$TMP/www/obj" "$TMP/nginx" "$TMP/squid" "$TMP/egressd" "$TMP/logs"
read -r ORIGIN_PORT EGRESSD_PORT SQUID_PORT < <(free_ports 3)
[[ -n ${SQUID_PORT:-} ]] || die "could not pick free ports"

# The hot set: OBJECTS files of OBJECT_KIB KiB each.
head -c $(( OBJECT_KIB * 1024 )) /dev/urandom > "$TMP/www/seed"
for (( i = 0; i < OBJECTS; i++ )); do cp "$TMP/www/seed" "$TMP/www/obj/$i"; done
chmod -R a+rX "$TMP/www"
HOT_MB=$(( (OBJECTS * OBJECT_KIB + 1023) / 1024 ))
CACHE_MB=$(( HOT_MB * 3 + 16 ))   # room for the objects plus per-entry overhead

origin_url() { echo "http://$LOOP:$ORIGIN_PORT$1"; }

start_nginx() {
  local d=$TMP/nginx
  cat > "$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $d/body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  types { }
  default_type application/octet-stream;
  sendfile on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  server {
    listen $LOOP:$ORIGIN_PORT backlog=4096;
    root $TMP/www;
    # Cacheable by shared caches for an hour (RFC 9111 §5.2.2.1).
    location /obj/ { add_header Cache-Control "public, max-age=3600"; }
  }
}
EOF
  nginx -t -q -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>"$TMP/logs/nginx-t.log" \
    || { cat "$TMP/logs/nginx-t.log" >&2; die "nginx config test failed"; }
  taskset -c "$LOAD_CPU" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$TMP/logs/nginx.out" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_port "$NGINX_PID" "$ORIGIN_PORT" nginx "$d/error.log"
}

PROXY_PID=""
PROXY_PORT=""

start_egressd() {
  local d=$TMP/egressd
  if [[ $BUILD == 1 ]]; then
    (cd "$ROOT" && npx tsc -p .) >"$TMP/logs/tsc.log" 2>&1 || log "bench: WARNING npx tsc -p . reported errors"
  fi
  [[ -f $ROOT/bin/egressd.js ]] || die "bin/egressd.js not found"
  # The forwarding bench template, with the cache turned on and sized for the hot set.
  sed -e "s/\${PROXY_PORT}/$EGRESSD_PORT/g" -e "s/\${ORIGIN_PORT}/$ORIGIN_PORT/g" -e "s/\${TLS_PORT}/$ORIGIN_PORT/g" \
    -e "s/^cache: .*$/cache: { enabled: true, memory: { maxSize: ${CACHE_MB}MiB, maxObjectSize: 1MiB } }/" \
    "$BENCH_DIR/egressd.bench.yaml" > "$d/egressd.yaml"
  grep -q '^cache: { enabled: true' "$d/egressd.yaml" || die "could not enable the cache in the egressd config"
  (cd "$ROOT" && exec taskset -c "$PROXY_CPU" node bin/egressd.js start -c "$d/egressd.yaml") >"$d/stdout.log" 2>"$d/stderr.log" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$EGRESSD_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" egressd "$d/stderr.log"
}

start_squid() {
  local d=$TMP/squid
  cat > "$d/squid.conf" <<EOF
# bench/cache.sh: Squid with a memory cache that holds the whole hot set, no disk cache.
http_port $LOOP:$SQUID_PORT
workers 1
acl Safe_ports port $ORIGIN_PORT
http_access deny !Safe_ports
http_access allow localhost
http_access deny all
cache allow all
cache_mem $CACHE_MB MB
maximum_object_size_in_memory 1 MB
memory_cache_mode always
access_log none
cache_store_log none
cache_log $d/cache.log
pid_filename $d/squid.pid
coredump_dir $d
netdb_filename none
pinger_enable off
shutdown_lifetime 1 second
visible_hostname egressd-bench
max_filedescriptors 65536
EOF
  if [[ $(id -u) == 0 ]] && id proxy >/dev/null 2>&1; then chown -R proxy: "$d"; fi
  squid -k parse -f "$d/squid.conf" >"$TMP/logs/squid-parse.log" 2>&1 \
    || { tail -n 30 "$TMP/logs/squid-parse.log" >&2; die "squid config parse failed"; }
  taskset -c "$PROXY_CPU" squid -N -f "$d/squid.conf" >"$TMP/logs/squid.out" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$SQUID_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" squid "$d/cache.log"
}

stop_proxy() {
  [[ -n $PROXY_PID ]] || return 0
  stop_pid "$PROXY_PID"
  forget_pid "$PROXY_PID"
  PROXY_PID=""; PROXY_PORT=""
}

run_wrk() {  # TARGET OUTFILE SECONDS
  local target=$1 out=$2 secs=$3 url prefix threads=$WRK_THREADS
  (( threads > CONNS )) && threads=$CONNS
  if [[ $target == direct ]]; then url="http://$LOOP:$ORIGIN_PORT/"; prefix=""
  else url="http://$LOOP:$PROXY_PORT/"; prefix="http://$LOOP:$ORIGIN_PORT"; fi
  BENCH_PREFIX=$prefix BENCH_HOST="$LOOP:$ORIGIN_PORT" BENCH_OBJECTS=$OBJECTS BENCH_OUT=$out \
    timeout -k 5 $(( secs + 30 )) taskset -c "$LOAD_CPU" \
    wrk -t"$threads" -c"$CONNS" -d"${secs}s" --timeout 5s --latency -s "$BENCH_DIR/cache-wrk.lua" "$url" \
    >"$out.log" 2>&1 || { tail -n 20 "$out.log" >&2; die "wrk failed ($target)"; }
  [[ -s $out ]] || { tail -n 20 "$out.log" >&2; die "wrk wrote no result ($target)"; }
}

# After the warm-up every object must come from the proxy's cache.
check_hits() {  # TARGET
  local t=$1 i hdr
  for i in 0 $(( OBJECTS / 2 )) $(( OBJECTS - 1 )); do
    hdr=$(curl -sS --noproxy '' -x "http://$LOOP:$PROXY_PORT" -o /dev/null -D - "$(origin_url "/obj/$i")" | tr -d '\r' | grep -i '^x-cache:' || true)
    [[ $hdr == *HIT* ]] || die "$t: /obj/$i is not a cache hit after the warm-up (X-Cache: '${hdr#*: }')"
  done
}

rps() {  # wrk JSON file → requests per second
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const e = r.errors; if (e.connect + e.read + e.write + e.status + e.timeout > 0) console.error(`errors: ${JSON.stringify(e)}`); console.log(Math.round(r.requests / (r.duration_us / 1e6)))' "$1"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A RESULT
bench_target() {
  local t=$1 run out values=()
  case $t in
    direct) PROXY_PID="" ;;
    egressd) start_egressd ;;
    squid) start_squid ;;
  esac
  if (( WARMUP > 0 )); then run_wrk "$t" "$TMP/logs/$t-warmup.json" "$WARMUP"; fi
  if [[ $t != direct ]]; then check_hits "$t"; fi
  for (( run = 1; run <= RUNS; run++ )); do
    out=$RAW/$t.$run.json
    run_wrk "$t" "$out" "$DURATION"
    values+=("$(rps "$out")")
    log "  $t run $run: ${values[-1]} req/s"
    sleep 1
  done
  RESULT[$t]=$(median "${values[@]}")
  if [[ $t != direct ]]; then
    is_running "$PROXY_PID" || die "$t exited during the bench"
    stop_proxy
  fi
}

busy_check
start_nginx
log "bench: W7 — $OBJECTS objects of $OBJECT_KIB KiB, $CONNS keep-alive connections, ${DURATION}s x $RUNS; caches sized ${CACHE_MB} MiB"
for t in $TARGETS; do
  log "bench: $t"
  bench_target "$t"
done

mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
{
  printf '{"workload":"w7","objects":%d,"object_kib":%d,"conns":%d,"duration_s":%d,"runs":%d,"git":%s,"req_per_s":{' \
    "$OBJECTS" "$OBJECT_KIB" "$CONNS" "$DURATION" "$RUNS" "$(json_str "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)")"
  sep=""
  for t in $TARGETS; do printf '%s"%s":%s' "$sep" "$t" "${RESULT[$t]}"; sep=","; done
  printf '}}\n'
} > "$RESULTS_DIR/cache-$stamp.json"

printf '\nW7 cache hot set, req/s (median of %d x %ds)\n' "$RUNS" "$DURATION"
printf '| %-8s | %10s |\n' target req/s
printf '|----------|------------|\n'
for t in $TARGETS; do printf '| %-8s | %10s |\n' "$t" "${RESULT[$t]}"; done
log "bench: results in $RESULTS_DIR/cache-$stamp.json"
