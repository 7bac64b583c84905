#!/usr/bin/env bash
# egressd benchmark: the same workloads direct (no proxy), through egressd and through
# Squid, in one go. Run by hand (see bench/README.md), never in CI.
#
# Every connection targets loopback only (127.0.0.1). Everything runs from a temp dir;
# the processes this script starts are stopped by PID on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

DURATION=${BENCH_DURATION:-10}        # seconds per measured run
RUNS=${BENCH_RUNS:-3}                 # runs per workload; the table shows the median
TARGETS=${BENCH_TARGETS:-"direct egressd squid"}
WORKLOADS=${BENCH_WORKLOADS:-"w1 w2 w3a w3b w4"}
WARMUP=${BENCH_WARMUP:-2}             # seconds of W1 before measuring each target (0: none)
W1_CONNS=${BENCH_W1_CONNS:-64}
W2_CONNS=${BENCH_W2_CONNS:-4}
W3A_CONNS=${BENCH_W3A_CONNS:-4}
W3B_CONNS=${BENCH_W3B_CONNS:-4}
W4_CONNS=${BENCH_W4_CONNS:-16}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
EGRESSD_WORKERS=${BENCH_EGRESSD_WORKERS:-}   # set: `workers: N` in egressd's config (bench/workers.sh)
EGRESSD_CPUS=${BENCH_EGRESSD_CPUS:-}         # set: taskset list for egressd only (e.g. 0,1); CPU shares are still computed for PROXY_CPU
LOAD_CPU=${BENCH_LOAD_CPU:-1}
BUILD=${BENCH_BUILD:-1}               # 0: skip `npx tsc -p .` (use the dist/ already built)
KEEP_TMP=${BENCH_KEEP_TMP:-0}         # 1: keep the temp dir (configs, logs, raw results)
EGRESSD_NODE_ARGS=${BENCH_EGRESSD_NODE_ARGS:-}  # e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
RESULTS_DIR=${BENCH_RESULTS_DIR:-$BENCH_DIR/results}

LOOP=127.0.0.1   # the only address any load is sent to

# log, die, is_uint, process bookkeeping (PIDS, stop_pid, the EXIT trap), apt_install,
# free_ports, wait_port, rss_kb, sample_rss, CPU accounting, busy_check, json_str.
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

for v in DURATION RUNS WARMUP W1_CONNS W2_CONNS W3A_CONNS W3B_CONNS W4_CONNS WRK_THREADS PROXY_CPU LOAD_CPU; do
  is_uint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
(( DURATION >= 1 && RUNS >= 1 )) || die "BENCH_DURATION and BENCH_RUNS must be >= 1"
for t in $TARGETS; do
  case $t in direct|egressd|squid|parent|node|tinyproxy) ;; *) die "unknown target '$t' in BENCH_TARGETS (direct egressd squid parent node tinyproxy)";; esac
done
for w in $WORKLOADS; do
  case $w in w1|w2|w3a|w3b|w4) ;; *) die "unknown workload '$w' in BENCH_WORKLOADS (w1 w2 w3a w3b w4)";; esac
done
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
has_workload() { [[ " $WORKLOADS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- dependencies
install_deps() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  command -v squid >/dev/null || missing+=(squid)   # squid-openssl provides it too
  command -v wrk >/dev/null || missing+=(wrk)
  if has_target tinyproxy; then command -v tinyproxy >/dev/null || missing+=(tinyproxy); fi
  apt_install "${missing[@]}"
}
install_deps
for c in nginx squid wrk openssl taskset node curl timeout; do
  command -v "$c" >/dev/null || die "$c not found"
done
NCPU=$(nproc)
if (( NCPU < 2 )); then
  log "bench: WARNING only $NCPU CPU: proxy, origin and load share CPU 0; numbers are not comparable"
  PROXY_CPU=0; LOAD_CPU=0
fi
(( PROXY_CPU < NCPU && LOAD_CPU < NCPU )) || die "BENCH_PROXY_CPU/BENCH_LOAD_CPU must be below $NCPU"
# This shell and all its helpers (curl, awk, report.mjs) stay off the proxy's CPU.
taskset -pc "$LOAD_CPU" $$ >/dev/null

# ---------------------------------------------------------------- temp dir, ports, files
TMP=$(mktemp -d /tmp/egressd-bench.XXXXXX)
chmod 755 "$TMP"   # nginx workers and squid run as unprivileged users
RAW=$TMP/raw
mkdir -p "$RAW" "$TMP/www" "$TMP/tls" "$TMP/nginx" "$TMP/squid" "$TMP/egressd" "$TMP/logs"

read -r ORIGIN_PORT TLS_PORT EGRESSD_PORT SQUID_PORT NODE_PORT TINY_PORT < <(free_ports 6)
[[ -n ${TINY_PORT:-} ]] || die "could not pick free ports"

head -c 1024 /dev/urandom > "$TMP/www/1k"
head -c $((1024 * 1024)) /dev/urandom > "$TMP/www/1m"
head -c $((16 * 1024 * 1024)) /dev/urandom > "$TMP/www/16m"
chmod 755 "$TMP/www"; chmod 644 "$TMP/www"/*

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$LOOP" \
  -addext "subjectAltName=IP:$LOOP" \
  -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" >"$TMP/logs/openssl.log" 2>&1 \
  || { cat "$TMP/logs/openssl.log" >&2; die "openssl req failed"; }

# ---------------------------------------------------------------- helpers
origin_url() { echo "http://$LOOP:$ORIGIN_PORT$1"; }

# ---------------------------------------------------------------- nginx origin
start_nginx() {
  local d=$TMP/nginx
  cat > "$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; multi_accept on; }
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
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  server {
    listen $LOOP:$ORIGIN_PORT backlog=4096;
    root $TMP/www;
    location / { }
  }
  server {
    listen $LOOP:$TLS_PORT ssl backlog=4096;
    ssl_certificate $TMP/tls/cert.pem;
    ssl_certificate_key $TMP/tls/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $TMP/www;
    location / { }
  }
}
EOF
  nginx -t -q -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>"$TMP/logs/nginx-t.log" \
    || { cat "$TMP/logs/nginx-t.log" >&2; die "nginx config test failed"; }
  taskset -c "$LOAD_CPU" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$TMP/logs/nginx.out" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_port "$NGINX_PID" "$ORIGIN_PORT" nginx "$d/error.log"
  wait_port "$NGINX_PID" "$TLS_PORT" nginx "$d/error.log"
  local code
  code=$(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' "$(origin_url /1k)") || true
  [[ $code == 200 ]] || die "nginx origin answered $code for /1k"
  code=$(curl -sS -k --noproxy '*' -o /dev/null -w '%{http_code}' "https://$LOOP:$TLS_PORT/1k") || true
  [[ $code == 200 ]] || die "nginx TLS origin answered $code for /1k"
  log "bench: nginx origin pid $NGINX_PID on $LOOP:$ORIGIN_PORT (http) and $LOOP:$TLS_PORT (tls), CPU $LOAD_CPU"
}

# ---------------------------------------------------------------- proxies
PROXY_PID=""
PROXY_PORT=""

start_egressd() {  # [EXTRA_YAML]: appended to the config (the parent target's upstream section)
  local d=$TMP/egressd
  if [[ $BUILD == 1 ]]; then
    build_dist "$TMP/logs/tsc.log"
  fi
  [[ -f $ROOT/bin/egressd.js ]] || die "bin/egressd.js not found: egressd is not built yet"
  sed -e "s/\${PROXY_PORT}/$EGRESSD_PORT/g" -e "s/\${ORIGIN_PORT}/$ORIGIN_PORT/g" -e "s/\${TLS_PORT}/$TLS_PORT/g" \
    "$BENCH_DIR/egressd.bench.yaml" > "$d/egressd.yaml"
  [[ -z ${1:-} ]] || printf '%s\n' "$1" >> "$d/egressd.yaml"
  [[ -z $EGRESSD_WORKERS ]] || printf 'workers: %s\n' "$EGRESSD_WORKERS" >> "$d/egressd.yaml"
  # shellcheck disable=SC2086  # EGRESSD_NODE_ARGS is a list of node flags
  (cd "$ROOT" && exec taskset -c "${EGRESSD_CPUS:-$PROXY_CPU}" node $EGRESSD_NODE_ARGS bin/egressd.js start -c "$d/egressd.yaml") \
    >"$d/stdout.log" 2>"$d/stderr.log" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$EGRESSD_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" egressd "$d/stderr.log"
}

start_squid() {  # [CPU]: default the proxy CPU; the parent target runs it as the parent, on the load CPU
  local d=$TMP/squid cpu=${1:-$PROXY_CPU}
  cat > "$d/squid.conf" <<EOF
# bench/run.sh: a forward proxy with caching off, one worker, loopback only.
http_port $LOOP:$SQUID_PORT
workers 1
acl CONNECT method CONNECT
acl SSL_ports port $TLS_PORT $ORIGIN_PORT
acl Safe_ports port $ORIGIN_PORT $TLS_PORT
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow localhost
http_access deny all
cache deny all
cache_mem 0 MB
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
  taskset -c "$cpu" squid -N -f "$d/squid.conf" >"$TMP/logs/squid.out" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$SQUID_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" squid "$d/cache.log"
}

# The parent target: egressd (measured, on the proxy CPU) sends everything through a
# Squid parent that runs beside nginx and the load on the load CPU: the added cost of
# the parent hop to egressd, and to the whole path.
PARENT_PID=""
start_parent_chain() {
  start_squid "$LOAD_CPU"
  PARENT_PID=$PROXY_PID
  start_egressd "upstream: { default: parent, groups: { parent: { parents: [\"http://$LOOP:$SQUID_PORT\"], health: { check: none } } } }"
}

# The node target: bench/bare-node-proxy.mjs, the least a proxy on node:http + undici
# does (no policy, no log, no limits), on the proxy CPU like the others: the Node floor.
start_bare_node() {
  (cd "$ROOT" && exec taskset -c "$PROXY_CPU" node bench/bare-node-proxy.mjs "$NODE_PORT") \
    >"$TMP/logs/node.out" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$NODE_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" node "$TMP/logs/node.out"
}

# The tinyproxy target: Debian's tinyproxy, the W4 peer of issue 2's goals, measured in
# the same run instead of taken from FACTS.md. It closes every client connection after
# its response (FACTS.md), so its W1 is reconnects.
start_tinyproxy() {
  local d=$TMP/tinyproxy
  mkdir -p "$d"
  cat > "$d/tinyproxy.conf" <<EOF
Port $TINY_PORT
Listen $LOOP
Timeout 60
MaxClients 1024
LogLevel Critical
LogFile "$d/tinyproxy.log"
Allow 127.0.0.1
ConnectPort $ORIGIN_PORT
ConnectPort $TLS_PORT
EOF
  if [[ $(id -u) == 0 ]]; then printf 'User nobody\nGroup nogroup\n' >> "$d/tinyproxy.conf"; chmod 777 "$d"; fi
  taskset -c "$PROXY_CPU" tinyproxy -d -c "$d/tinyproxy.conf" >"$TMP/logs/tinyproxy.out" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$TINY_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" tinyproxy "$TMP/logs/tinyproxy.out"
}

stop_proxy() {
  [[ -n $PROXY_PID ]] || return 0
  stop_pid "$PROXY_PID"
  forget_pid "$PROXY_PID"
  PROXY_PID=""; PROXY_PORT=""
  if [[ -n $PARENT_PID ]]; then stop_pid "$PARENT_PID"; forget_pid "$PARENT_PID"; PARENT_PID=""; fi
}

check_proxy() {  # NAME: one absolute-URI GET, one CONNECT + GET, one CONNECT + TLS
  local name=$1 code px="http://$LOOP:$PROXY_PORT"
  code=$(curl -sS --noproxy '' -x "$px" -o /dev/null -w '%{http_code}' "$(origin_url /1k)") || true
  [[ $code == 200 ]] || die "$name: GET through the proxy answered '$code'"
  code=$(curl -sS --noproxy '' -x "$px" -p -o /dev/null -w '%{http_connect} %{http_code}' "$(origin_url /1k)") || true
  [[ $code == "200 200" ]] || die "$name: CONNECT + GET answered '$code' (connect, get)"
  code=$(curl -sS -k --noproxy '' -x "$px" -o /dev/null -w '%{http_connect} %{http_code}' "https://$LOOP:$TLS_PORT/1k") || true
  [[ $code == "200 200" ]] || die "$name: CONNECT + TLS answered '$code' (connect, get)"
}

# ---------------------------------------------------------------- workloads
run_wrk() {  # TARGET OUTFILE PATH CONNS CLOSE(0/1) SECONDS
  local target=$1 out=$2 path=$3 conns=$4 close=$5 secs=$6 url bpath threads=$WRK_THREADS
  (( threads > conns )) && threads=$conns
  if [[ $target == direct ]]; then
    url="http://$LOOP:$ORIGIN_PORT/"; bpath=$path
  else
    url="http://$LOOP:$PROXY_PORT/"; bpath=$(origin_url "$path")
  fi
  BENCH_PATH=$bpath BENCH_HOST="$LOOP:$ORIGIN_PORT" BENCH_CLOSE=$close BENCH_OUT=$out \
    timeout -k 5 $(( secs + 30 )) taskset -c "$LOAD_CPU" \
    wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout 5s --latency -s "$BENCH_DIR/wrk.lua" "$url" \
    >"$out.log" 2>&1 || { tail -n 20 "$out.log" >&2; die "wrk failed ($target $path)"; }
  [[ -s $out ]] || { tail -n 20 "$out.log" >&2; die "wrk wrote no result ($target $path)"; }
}

run_connect() {  # TARGET OUTFILE TLS(0/1) PATH CONNS SECONDS
  local target=$1 out=$2 tls=$3 path=$4 conns=$5 secs=$6 args=()
  if [[ $tls == 1 ]]; then args+=(--tls --target "$LOOP:$TLS_PORT"); else args+=(--target "$LOOP:$ORIGIN_PORT"); fi
  if [[ $target == direct ]]; then args+=(--mode direct); else args+=(--mode tunnel --proxy "$LOOP:$PROXY_PORT"); fi
  timeout -k 5 $(( secs + 30 )) taskset -c "$LOAD_CPU" \
    node "$BENCH_DIR/connect-load.mjs" "${args[@]}" --path "$path" --conns "$conns" --duration "$secs" --out "$out" \
    >"$out.log" 2>&1 || { tail -n 20 "$out.log" >&2; die "connect-load failed ($target)"; }
  [[ -s $out ]] || { tail -n 20 "$out.log" >&2; die "connect-load wrote no result ($target)"; }
}

progress() {  # LABEL FILE CPUFILE TARGET
  log "  $1: $(node "$BENCH_DIR/report.mjs" line "$2" "$3" "$4")"
}

measure() {  # TARGET WORKLOAD RUN: one measured run of one workload
  local t=$1 w=$2 run=$3 dir=$RAW/$1 out sampler=""
  out=$dir/$w.$run.json
  window_begin
  case $w in
    w1)
      if [[ -n $PROXY_PID ]]; then
        ( sample_rss "$PROXY_PID" "$DURATION" "$dir/rss-w1.$run.txt" ) &
        sampler=$!
        PIDS+=("$sampler")
      fi
      run_wrk "$t" "$out" /1k "$W1_CONNS" 0 "$DURATION"
      if [[ -n $sampler ]]; then wait "$sampler" || true; forget_pid "$sampler"; fi
      ;;
    w2) run_wrk "$t" "$out" /1m "$W2_CONNS" 0 "$DURATION" ;;
    w3a) run_connect "$t" "$out" 0 /1k "$W3A_CONNS" "$DURATION" ;;
    w3b) run_connect "$t" "$out" 1 /16m "$W3B_CONNS" "$DURATION" ;;
    w4) run_wrk "$t" "$out" /1k "$W4_CONNS" 1 "$DURATION" ;;
  esac
  window_end "$dir/cpu-$w.$run.json"
  progress "${w^^}" "$out" "$dir/cpu-$w.$run.json" "$t"
  sleep 1   # let closed connections settle before the next workload
}

bench_target() {
  local t=$1 dir=$RAW/$1 run w
  mkdir -p "$dir"
  case $t in
    direct) PROXY_PID="" ;;
    egressd) start_egressd ;;
    squid) start_squid ;;
    parent) start_parent_chain ;;
    node) start_bare_node ;;
    tinyproxy) start_tinyproxy ;;
  esac
  if [[ -n $PROXY_PID ]]; then
    sleep 1
    rss_kb "$PROXY_PID" > "$dir/rss-idle.txt"
    log "bench: $t pid $PROXY_PID on $LOOP:$PROXY_PORT, CPU $PROXY_CPU, idle RSS $(( $(cat "$dir/rss-idle.txt") / 1024 )) MB"
    check_proxy "$t"
  fi
  if (( WARMUP > 0 )); then
    run_wrk "$t" "$TMP/logs/$t-warmup.json" /1k "$W1_CONNS" 0 "$WARMUP"
  fi
  for (( run = 1; run <= RUNS; run++ )); do
    log "bench: $t run $run/$RUNS"
    for w in $WORKLOADS; do measure "$t" "$w" "$run"; done
  done
  if [[ $t != direct ]]; then
    if [[ -n $PROXY_PID ]] && ! is_running "$PROXY_PID"; then die "$t exited during the bench"; fi
    stop_proxy
  fi
}

# ---------------------------------------------------------------- main
busy_check

GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | grep -v '^?? bench/' || true) ]]; then GIT_REV="$GIT_REV+dirty"; fi
cat > "$RAW/meta.json" <<EOF
{
  "started": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),
  "git": $(json_str "$GIT_REV"),
  "targets": $(json_str "$TARGETS"),
  "workloads": $(json_str "$WORKLOADS"),
  "duration_s": $DURATION,
  "runs": $RUNS,
  "warmup_s": $WARMUP,
  "conns": { "w1": $W1_CONNS, "w2": $W2_CONNS, "w3a": $W3A_CONNS, "w3b": $W3B_CONNS, "w4": $W4_CONNS },
  "wrk_threads": $WRK_THREADS,
  "proxy_cpu": $PROXY_CPU,
  "egressd_workers": $(json_str "${EGRESSD_WORKERS:-1}"),
  "egressd_cpus": $(json_str "${EGRESSD_CPUS:-$PROXY_CPU}"),
  "cluster_sched_policy": $(json_str "${NODE_CLUSTER_SCHED_POLICY:-default}"),
  "load_cpu": $LOAD_CPU,
  "cpus": $NCPU,
  "cpu_model": $(json_str "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"),
  "kernel": $(json_str "$(uname -r)"),
  "node": $(json_str "$(node --version)"),
  "nginx": $(json_str "$(nginx -v 2>&1 | sed 's/^nginx version: //')"),
  "squid": $(json_str "$(squid -v | head -n 1)"),
  "wrk": $(json_str "$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"),
  "busy_before_pct": $BUSY
}
EOF

per_target=$(( RUNS * ($(wc -w <<<"$WORKLOADS") * (DURATION + 2)) + WARMUP + 10 ))
log "bench: targets [$TARGETS], workloads [$WORKLOADS], $RUNS x ${DURATION}s; about $(( per_target * $(wc -w <<<"$TARGETS") + 20 )) s"

start_nginx
for t in $TARGETS; do bench_target "$t"; done

log ""
node "$BENCH_DIR/report.mjs" table "$RAW" "$RESULTS_DIR"
