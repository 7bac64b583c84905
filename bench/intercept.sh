#!/usr/bin/env bash
# egressd TLS interception benchmark (issue 3): the same intercepted-HTTPS workloads
# direct (no proxy), through egressd (tls.intercept: all), through Squid with ssl-bump
# and through mitmproxy, in one go; plus the cost of issuing a never-seen host's
# certificate (bench/cert-issue.mjs). Run by hand (see bench/README.md), never in CI.
#
# Every connection targets loopback only (127.0.0.1). Everything runs from a temp dir;
# no system file is read for names (egressd gets a hosts file of ours, Squid too); the
# processes this script starts are stopped by PID on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

DURATION=${BENCH_DURATION:-10}        # seconds per measured run
RUNS=${BENCH_RUNS:-3}                 # runs per workload; the table shows the median
TARGETS=${BENCH_TARGETS:-"direct egressd squid mitmproxy"}
WORKLOADS=${BENCH_WORKLOADS:-"w5 w6 w7 issue"}
WARMUP=${BENCH_WARMUP:-2}             # seconds of W5 before measuring each target (0: none)
HOSTS=${BENCH_HOSTS:-50}              # host names h1.bench .. hN.bench
W5_CONNS=${BENCH_W5_CONNS:-50}        # keep-alive connections (connection i uses name i mod HOSTS)
W6_CONNS=${BENCH_W6_CONNS:-8}         # concurrent new-handshake loops
NEW_HOSTS=${BENCH_NEW_HOSTS:-50}      # W7: never-seen names per run, one after the other
ISSUE_HOSTS=${BENCH_ISSUE_HOSTS:-300} # cert-issue.mjs: distinct hosts per row
PROXY_CPU=${BENCH_PROXY_CPU:-0}
EGRESSD_WORKERS=${BENCH_EGRESSD_WORKERS:-}   # set: `workers: N` in egressd's config (bench/workers.sh)
EGRESSD_CPUS=${BENCH_EGRESSD_CPUS:-}         # set: taskset list for egressd only (e.g. 0,1); CPU shares are still computed for PROXY_CPU
LOAD_CPU=${BENCH_LOAD_CPU:-1}
BUILD=${BENCH_BUILD:-1}               # 0: skip `npx tsc -p .` (use the dist/ already built)
KEEP_TMP=${BENCH_KEEP_TMP:-0}         # 1: keep the temp dir (configs, logs, raw results)
ACCESS_LOG=${BENCH_ACCESS_LOG:-0}     # 1: egressd writes its access log to a file; error codes are counted
VERIFY=${BENCH_VERIFY:-1}             # 0: the load client does not verify certificates in measured runs (the check still does)
EGRESSD_NODE_ARGS=${BENCH_EGRESSD_NODE_ARGS:-}  # e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
RESULTS_DIR=${BENCH_RESULTS_DIR:-$BENCH_DIR/results}

LOOP=127.0.0.1   # the only address any load is sent to

# log, die, is_uint, process bookkeeping (PIDS, stop_pid, the EXIT trap), apt_install,
# free_ports, wait_port, rss_kb, sample_rss, CPU accounting, busy_check, json_str.
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

for v in DURATION RUNS WARMUP HOSTS W5_CONNS W6_CONNS NEW_HOSTS ISSUE_HOSTS PROXY_CPU LOAD_CPU; do
  is_uint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
(( DURATION >= 1 && RUNS >= 1 && HOSTS >= 1 && W5_CONNS >= 1 && W6_CONNS >= 1 && NEW_HOSTS >= 1 && ISSUE_HOSTS >= 1 )) \
  || die "BENCH_DURATION, BENCH_RUNS, BENCH_HOSTS, BENCH_*_CONNS, BENCH_NEW_HOSTS and BENCH_ISSUE_HOSTS must be >= 1"
for t in $TARGETS; do
  case $t in direct|egressd|squid|mitmproxy) ;; *) die "unknown target '$t' in BENCH_TARGETS (direct egressd squid mitmproxy)";; esac
done
for w in $WORKLOADS; do
  case $w in w5|w6|w7|issue) ;; *) die "unknown workload '$w' in BENCH_WORKLOADS (w5 w6 w7 issue)";; esac
done
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
has_workload() { [[ " $WORKLOADS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- dependencies
CERTGEN=/usr/lib/squid/security_file_certgen
squid_bumps() { command -v squid >/dev/null && squid -v | grep -q -- '--with-openssl' && [[ -x $CERTGEN ]]; }
install_deps() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  # Debian's `squid` is built with GnuTLS and cannot bump; `squid-openssl` (same version)
  # can, and replaces it (bench/run.sh works with either).
  if has_target squid && ! squid_bumps; then missing+=(squid-openssl); fi
  if has_target mitmproxy && ! command -v mitmdump >/dev/null; then missing+=(mitmproxy); fi
  apt_install "${missing[@]}"
}
install_deps
for c in nginx openssl taskset node timeout; do
  command -v "$c" >/dev/null || die "$c not found"
done
if has_target squid; then squid_bumps || die "squid has no ssl-bump (install squid-openssl)"; fi
if has_target mitmproxy; then command -v mitmdump >/dev/null || die "mitmdump not found (install mitmproxy)"; fi
NCPU=$(nproc)
if (( NCPU < 2 )); then
  log "bench: WARNING only $NCPU CPU: proxy, origin and load share CPU 0; numbers are not comparable"
  PROXY_CPU=0; LOAD_CPU=0
fi
(( PROXY_CPU < NCPU && LOAD_CPU < NCPU )) || die "BENCH_PROXY_CPU/BENCH_LOAD_CPU must be below $NCPU"
# This shell and all its helpers (the load client, report) stay off the proxy's CPU.
taskset -pc "$LOAD_CPU" $$ >/dev/null

# ---------------------------------------------------------------- temp dir, ports, files
TMP=$(mktemp -d /tmp/egressd-intercept-bench.XXXXXX)
chmod 755 "$TMP"   # nginx workers and squid run as unprivileged users
RAW=$TMP/raw
mkdir -p "$RAW" "$TMP/www" "$TMP/tls" "$TMP/nginx" "$TMP/squid" "$TMP/egressd" "$TMP/mitmproxy" "$TMP/logs"

read -r TLS_PORT EGRESSD_PORT SQUID_PORT MITM_PORT < <(free_ports 4)
[[ -n ${MITM_PORT:-} ]] || die "could not pick free ports"

head -c 1024 /dev/urandom > "$TMP/www/1k"
chmod 755 "$TMP/www"; chmod 644 "$TMP/www"/*

# Host names. The load client always sends "CONNECT 127.0.0.1:TLS_PORT" and puts the
# name in the TLS SNI (and the Host header): the proxies mint their certificate for the
# SNI. egressd sends the decrypted requests to https://<SNI>:TLS_PORT, so the names must
# resolve: they are in $TMP/hosts, which egressd (bench/egressd-hosts.mjs) and Squid
# (hosts_file) read instead of /etc/hosts. Squid and mitmproxy dial the CONNECT address.
NAME_PATTERN='h%d.bench'
new_pattern() { echo "r$1-%d.new.bench"; }   # RUN: W7's never-seen names of that run
{
  echo "127.0.0.1 localhost"
  for (( i = 1; i <= HOSTS; i++ )); do echo "127.0.0.1 h$i.bench"; done
  for (( r = 1; r <= RUNS; r++ )); do
    for (( i = 1; i <= NEW_HOSTS; i++ )); do echo "127.0.0.1 r$r-$i.new.bench"; done
  done
} > "$TMP/hosts"
chmod 644 "$TMP/hosts"

# The origin's certificates, signed by a bench CA that every proxy is told to trust (so
# each verifies the origin, as in production). One certificate per name, as real sites
# have (SAN: the name and 127.0.0.1), served by one nginx server block per name: Squid
# mimics the origin's certificate when it bumps, so with one shared certificate it would
# mint a single certificate for every host. The certificates share one key (only the
# certificate differs); the default server (no or unknown SNI) has an IP-only one.
mk_ca origin-ca "egressd-bench origin CA"
ORIGIN_NAMES=()
for (( i = 1; i <= HOSTS; i++ )); do ORIGIN_NAMES+=("h$i.bench"); done
for (( r = 1; r <= RUNS; r++ )); do
  for (( i = 1; i <= NEW_HOSTS; i++ )); do ORIGIN_NAMES+=("r$r-$i.new.bench"); done
done
log "bench: creating ${#ORIGIN_NAMES[@]} origin certificates"
mk_origin_cert "" 1000
serial=1001
for n in "${ORIGIN_NAMES[@]}"; do mk_origin_cert "$n" "$serial"; serial=$(( serial + 1 )); done
ORIGIN_CA=$TMP/tls/origin-ca.pem
find "$TMP/tls" -type f -exec chmod 644 {} +

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
  server_names_hash_max_size 4096;
  server_names_hash_bucket_size 64;
  ssl_certificate_key $TMP/tls/origin.key;
  ssl_protocols TLSv1.2 TLSv1.3;
  root $TMP/www;
  server {
    listen $LOOP:$TLS_PORT ssl default_server backlog=4096;
    server_name _;
    ssl_certificate $TMP/tls/origin/_default.pem;
    location / { }
  }
$(for n in "${ORIGIN_NAMES[@]}"; do printf '  server { listen %s:%s ssl; server_name %s; ssl_certificate %s; location / { } }\n' "$LOOP" "$TLS_PORT" "$n" "$TMP/tls/origin/$n.pem"; done)
}
EOF
  nginx -t -q -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>"$TMP/logs/nginx-t.log" \
    || { cat "$TMP/logs/nginx-t.log" >&2; die "nginx config test failed"; }
  taskset -c "$LOAD_CPU" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$TMP/logs/nginx.out" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_port "$NGINX_PID" "$TLS_PORT" nginx "$d/error.log"
  log "bench: nginx TLS origin pid $NGINX_PID on $LOOP:$TLS_PORT, CPU $LOAD_CPU"
}

# ---------------------------------------------------------------- proxies
PROXY_PID=""
PROXY_PORT=""
CLIENT_CA=""   # the CA the load client verifies certificates with, per target

start_egressd() {
  local d=$TMP/egressd access=/dev/null
  if [[ $BUILD == 1 ]]; then
    build_dist "$TMP/logs/tsc.log"
    BUILD=0   # once per bench
  fi
  [[ -f $ROOT/dist/server/proxy-server.js ]] || die "dist/ not found: egressd is not built yet"
  [[ $ACCESS_LOG == 1 ]] && access=$d/access.log
  rm -rf "$d/ca"   # a fresh CA and leaf cache: every host is new to this egressd
  sed -e "s|\${PROXY_PORT}|$EGRESSD_PORT|g" -e "s|\${TLS_PORT}|$TLS_PORT|g" -e "s|\${CA_DIR}|$d/ca|g" \
    -e "s|\${ORIGIN_CA}|$ORIGIN_CA|g" -e "s|\${ACCESS_LOG}|$access|g" \
    "$BENCH_DIR/egressd-intercept.bench.yaml" > "$d/egressd.yaml"
  [[ -z $EGRESSD_WORKERS ]] || printf 'workers: %s\n' "$EGRESSD_WORKERS" >> "$d/egressd.yaml"
  # shellcheck disable=SC2086  # EGRESSD_NODE_ARGS is a list of node flags
  # --expose-gc: the launcher collects garbage before each SIGUSR2 snapshot (between runs only).
  (cd "$ROOT" && exec taskset -c "${EGRESSD_CPUS:-$PROXY_CPU}" node --expose-gc $EGRESSD_NODE_ARGS bench/egressd-hosts.mjs "$d/egressd.yaml" "$TMP/hosts") \
    >"$d/stdout.log" 2>"$d/stderr.log" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$EGRESSD_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" egressd "$d/stderr.log"
  [[ -s $d/ca/ca.pem ]] || die "egressd did not create its CA in $d/ca"
  CLIENT_CA=$d/ca/ca.pem
}

start_squid() {
  local d=$TMP/squid
  rm -rf "$d"/*
  mk_ca squid-ca "egressd-bench squid CA"
  chmod 644 "$TMP/tls/squid-ca.key"   # read by squid (user proxy); a throwaway bench key
  "$CERTGEN" -c -s "$d/ssl_db" -M 4MB >"$TMP/logs/certgen-init.log" 2>&1 \
    || { cat "$TMP/logs/certgen-init.log" >&2; die "security_file_certgen -c failed"; }
  cat > "$d/squid.conf" <<EOF
# bench/intercept.sh: a forward proxy with ssl-bump, caching off, one worker, loopback only.
# Peek at the ClientHello (step 1) so the certificate is minted for the SNI, then bump.
http_port $LOOP:$SQUID_PORT ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=4MB tls-cert=$TMP/tls/squid-ca.pem tls-key=$TMP/tls/squid-ca.key
sslcrtd_program $CERTGEN -s $d/ssl_db -M 4MB
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
# Verify the origin, as egressd does: trust the bench origin CA.
tls_outgoing_options cafile=$ORIGIN_CA
hosts_file $TMP/hosts
workers 1
acl CONNECT method CONNECT
acl SSL_ports port $TLS_PORT
acl Safe_ports port $TLS_PORT
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
  taskset -c "$PROXY_CPU" squid -N -f "$d/squid.conf" >"$TMP/logs/squid.out" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$SQUID_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" squid "$d/cache.log"
  CLIENT_CA=$TMP/tls/squid-ca.pem
}

start_mitmproxy() {
  local d=$TMP/mitmproxy
  rm -rf "${d:?}"/*
  # confdir: its CA is created there on start. flow_detail 0 and termlog_verbosity warn:
  # no per-flow output (the others log nothing per request either).
  taskset -c "$PROXY_CPU" mitmdump --listen-host "$LOOP" --listen-port "$MITM_PORT" \
    --set confdir="$d" --set ssl_verify_upstream_trusted_ca="$ORIGIN_CA" \
    --set flow_detail=0 --set termlog_verbosity=warn \
    >"$d/mitmdump.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  PROXY_PORT=$MITM_PORT
  wait_port "$PROXY_PID" "$PROXY_PORT" mitmproxy "$d/mitmdump.log"
  [[ -s $d/mitmproxy-ca-cert.pem ]] || die "mitmproxy did not create its CA in $d"
  CLIENT_CA=$d/mitmproxy-ca-cert.pem
}

stop_proxy() {
  [[ -n $PROXY_PID ]] || return 0
  stop_pid "$PROXY_PID"
  forget_pid "$PROXY_PID"
  PROXY_PID=""; PROXY_PORT=""
}

# ---------------------------------------------------------------- workloads
run_load() {  # TARGET OUTFILE SECONDS ARGS...: one intercept-load.mjs run (bounded by timeout)
  local target=$1 out=$2 secs=$3 args=()
  shift 3
  if [[ $target == direct ]]; then args+=(--mode direct); else args+=(--mode tunnel --proxy "$LOOP:$PROXY_PORT"); fi
  if [[ $VERIFY == 1 || ${FORCE_VERIFY:-0} == 1 ]]; then args+=(--ca "$CLIENT_CA"); fi
  timeout -k 5 $(( secs + 30 )) taskset -c "$LOAD_CPU" \
    node "$BENCH_DIR/intercept-load.mjs" "${args[@]}" --target "$LOOP:$TLS_PORT" \
    --path /1k --expect-bytes 1024 --duration "$secs" --out "$out" "$@" \
    >"$out.log" 2>&1 || { tail -n 20 "$out.log" >&2; die "intercept-load failed ($target $(basename "$out"))"; }
  [[ -s $out ]] || { tail -n 20 "$out.log" >&2; die "intercept-load wrote no result ($target)"; }
}

check_target() {  # NAME: a few new handshakes and keep-alive requests, verified, without errors
  local t=$1 f=$TMP/logs/$1-check.json
  FORCE_VERIFY=1 run_load "$t" "$f" 20 --names "$NAME_PATTERN" --count "$HOSTS" --conns 1 --ops 3
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
    if (errs || r.requests < 3) { console.error(`check: ${r.requests} requests, errors ${JSON.stringify(r.errors)} ${r.first_error ?? ""}`); process.exit(1); }
  ' "$f" || die "$t: CONNECT + TLS (SNI $NAME_PATTERN, certificate verified) + GET /1k failed"
}

progress() {  # LABEL FILE CPUFILE TARGET
  log "  $1: $(node "$BENCH_DIR/intercept-report.mjs" line "$2" "$3" "$4")"
}

measure() {  # TARGET WORKLOAD RUN: one measured run of one workload
  local t=$1 w=$2 run=$3 dir=$RAW/$1 sampler=""
  window_begin
  case $w in
    w5)
      if [[ -n $PROXY_PID ]]; then
        ( sample_rss "$PROXY_PID" "$DURATION" "$dir/rss-w5.$run.txt" ) &
        sampler=$!
        PIDS+=("$sampler")
      fi
      run_load "$t" "$dir/w5.$run.json" "$DURATION" --names "$NAME_PATTERN" --count "$HOSTS" --keepalive --conns "$W5_CONNS"
      if [[ -n $sampler ]]; then wait "$sampler" || true; forget_pid "$sampler"; fi
      window_end "$dir/cpu-w5.$run.json"
      progress W5 "$dir/w5.$run.json" "$dir/cpu-w5.$run.json" "$t"
      ;;
    w6)
      run_load "$t" "$dir/w6.$run.json" "$DURATION" --names "$NAME_PATTERN" --count "$HOSTS" --conns "$W6_CONNS"
      window_end "$dir/cpu-w6.$run.json"
      progress W6 "$dir/w6.$run.json" "$dir/cpu-w6.$run.json" "$t"
      ;;
    w7)
      # Never-seen names one after the other (certificate issued on the way), then the
      # same names again (certificate cached). Bounded by NEW_HOSTS operations each.
      local pat
      pat=$(new_pattern "$run")
      run_load "$t" "$dir/w7new.$run.json" 120 --names "$pat" --count "$NEW_HOSTS" --conns 1 --ops "$NEW_HOSTS"
      window_end "$dir/cpu-w7new.$run.json"
      progress "W7 new " "$dir/w7new.$run.json" "$dir/cpu-w7new.$run.json" "$t"
      window_begin
      run_load "$t" "$dir/w7seen.$run.json" 120 --names "$pat" --count "$NEW_HOSTS" --conns 1 --ops "$NEW_HOSTS"
      window_end "$dir/cpu-w7seen.$run.json"
      progress "W7 seen" "$dir/w7seen.$run.json" "$dir/cpu-w7seen.$run.json" "$t"
      ;;
  esac
  sleep 1   # let closed connections settle before the next workload
}

proxy_problems() {  # TARGET OUTFILE: the proxy's log lines at warning level or above
  local t=$1 out=$2
  case $t in
    # pino JSON lines, level 40+ (warn); the CA creation notice is expected on first start.
    egressd) grep -E '"level":(40|50|60)' "$TMP/egressd/stderr.log" | grep -v 'created a new interception CA' > "$out" || true
             grep -E '^egressd-hosts:' "$TMP/egressd/stderr.log" >> "$out" || true ;;
    squid) grep -E 'ERROR|FATAL|assertion|WARNING' "$TMP/squid/cache.log" > "$out" || true ;;
    mitmproxy) grep -v '^\s*$' "$TMP/mitmproxy/mitmdump.log" > "$out" || true ;;
  esac
}

bench_target() {
  local t=$1 dir=$RAW/$1 run w
  mkdir -p "$dir"
  case $t in
    direct) PROXY_PID=""; CLIENT_CA=$ORIGIN_CA ;;
    egressd) start_egressd ;;
    squid) start_squid ;;
    mitmproxy) start_mitmproxy ;;
  esac
  if [[ -n $PROXY_PID ]]; then
    sleep 1
    rss_kb "$PROXY_PID" > "$dir/rss-idle.txt"
    fd_count "$PROXY_PID" > "$dir/fds-idle.txt"
    log "bench: $t pid $PROXY_PID on $LOOP:$PROXY_PORT, CPU $PROXY_CPU, idle RSS $(( $(cat "$dir/rss-idle.txt") / 1024 )) MB"
  fi
  check_target "$t"
  if (( WARMUP > 0 )); then   # also issues the certificates of all HOSTS names
    run_load "$t" "$TMP/logs/$t-warmup.json" "$WARMUP" --names "$NAME_PATTERN" --count "$HOSTS" --keepalive --conns "$W5_CONNS"
  fi
  if [[ $t == egressd ]]; then sleep 1; kill -USR2 "$PROXY_PID" 2>/dev/null || true; fi   # after the warm-up's connections closed
  for (( run = 1; run <= RUNS; run++ )); do
    log "bench: $t run $run/$RUNS"
    for w in $WORKLOADS; do
      [[ $w == issue ]] || measure "$t" "$w" "$run"
    done
    if [[ $t == egressd ]]; then kill -USR2 "$PROXY_PID" 2>/dev/null || true; fi   # heap after each run
  done
  if [[ -n $PROXY_PID ]]; then
    is_running "$PROXY_PID" || { proxy_problems "$t" "$dir/log-problems.txt"; cat "$dir/log-problems.txt" >&2; die "$t exited during the bench"; }
    sleep 2   # idle connections close; what stays open is held by the proxy
    rss_kb "$PROXY_PID" > "$dir/rss-end.txt"
    fd_count "$PROXY_PID" > "$dir/fds-end.txt"
    if [[ $t == egressd ]]; then
      kill -USR2 "$PROXY_PID" 2>/dev/null || true
      sleep 0.5
      grep -E '^\{"egressd_stats"' "$TMP/egressd/stderr.log" > "$dir/stats.txt" || true
    fi
    stop_proxy
    proxy_problems "$t" "$dir/log-problems.txt"
    if [[ $t == egressd && $ACCESS_LOG == 1 ]]; then
      node -e '
        const counts = {};
        for (const l of require("node:fs").readFileSync(process.argv[1], "utf8").split("\n")) {
          if (!l) continue;
          let r; try { r = JSON.parse(l); } catch { counts["(unparsable line)"] = (counts["(unparsable line)"] ?? 0) + 1; continue; }
          const k = `${r.kind ?? "?"} ${r.error ?? "ok"}`;
          counts[k] = (counts[k] ?? 0) + 1;
        }
        console.log(JSON.stringify(counts));
      ' "$TMP/egressd/access.log" > "$dir/access-errors.json" || true
    fi
  fi
}

# Certificate issuance (bench/cert-issue.mjs) on the proxy CPU, no proxy running. Its
# CPU time is this shell's reaped-children time (it is the only child in the window).
bench_issue() {
  local dir=$RAW/issue c0 c1 snap0 snap1
  mkdir -p "$dir"
  [[ -f $ROOT/dist/tls/leaf-factory.js ]] || die "dist/ not found: egressd is not built yet"
  log "bench: certificate issuance (bench/cert-issue.mjs $ISSUE_HOSTS) on CPU $PROXY_CPU"
  snap0=$(cpu_snapshot); c0=$(pid_jiffies $$ 1)
  (cd "$ROOT" && timeout -k 5 600 taskset -c "$PROXY_CPU" node bench/cert-issue.mjs "$ISSUE_HOSTS") \
    >"$dir/cert-issue.txt" 2>"$dir/cert-issue.err" || { tail -n 20 "$dir/cert-issue.err" >&2; die "cert-issue.mjs failed"; }
  snap1=$(cpu_snapshot); c1=$(pid_jiffies $$ 1)
  # Same JSON as window_end; "proxy" = cert-issue.mjs (all of it ran on the proxy CPU).
  awk -v a="$snap0" -v b="$snap1" -v hz="$CLK_TCK" -v n="$NCPU" -v child=$(( c1 - c0 )) 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= 8; i++) d[i] = y[i] - x[i]
    cap = d[1] / 1e9 * hz
    fp = d[2] - child - d[6]; fl = d[3] - (d[7] - child) - d[8]
    if (fp < 0) fp = 0; if (fl < 0) fl = 0
    printf "{\"seconds\":%.2f,\"proxy_cpu_pct\":%.1f,\"foreign_proxy_cpu_pct\":%.1f,\"foreign_load_cpu_pct\":%.1f,\"steal_pct\":%.1f,\"load_cpu_busy_pct\":%.1f}\n",
      d[1] / 1e9, 100 * child / cap, 100 * fp / cap, 100 * fl / cap, 100 * d[4] / (cap * n), 100 * d[3] / cap
  }' > "$dir/cpu-issue.json"
  grep -E 'new host: LeafFactory|build \+ sign \(LeafSigner|^\s+certificate' "$dir/cert-issue.txt" | sed 's/^/  /' >&2 || true
}

# ---------------------------------------------------------------- main
busy_check

GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | grep -v '^?? bench/' || true) ]]; then GIT_REV="$GIT_REV+dirty"; fi
cat > "$RAW/meta.json" <<EOF
{
  "bench": "intercept",
  "started": $(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),
  "git": $(json_str "$GIT_REV"),
  "targets": $(json_str "$TARGETS"),
  "workloads": $(json_str "$WORKLOADS"),
  "duration_s": $DURATION,
  "runs": $RUNS,
  "warmup_s": $WARMUP,
  "hosts": $HOSTS,
  "new_hosts": $NEW_HOSTS,
  "issue_hosts": $ISSUE_HOSTS,
  "conns": { "w5": $W5_CONNS, "w6": $W6_CONNS, "w7": 1 },
  "client_verifies_certificates": $( [[ $VERIFY == 1 ]] && echo true || echo false ),
  "proxy_cpu": $PROXY_CPU,
  "egressd_workers": $(json_str "${EGRESSD_WORKERS:-1}"),
  "egressd_cpus": $(json_str "${EGRESSD_CPUS:-$PROXY_CPU}"),
  "cluster_sched_policy": $(json_str "${NODE_CLUSTER_SCHED_POLICY:-default}"),
  "load_cpu": $LOAD_CPU,
  "cpus": $NCPU,
  "cpu_model": $(json_str "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"),
  "kernel": $(json_str "$(uname -r)"),
  "node": $(json_str "$(node --version)"),
  "openssl": $(json_str "$(openssl version)"),
  "nginx": $(json_str "$(nginx -v 2>&1 | sed 's/^nginx version: //')"),
  "squid": $(json_str "$(command -v squid >/dev/null && squid -v | head -n 1 || echo none)"),
  "mitmproxy": $(json_str "$(command -v mitmdump >/dev/null && mitmdump --version 2>/dev/null | head -n 1 || echo none)"),
  "busy_before_pct": $BUSY
}
EOF

n_timed=0
for w in $WORKLOADS; do case $w in w5|w6) n_timed=$(( n_timed + 1 ));; esac; done
per_target=$(( RUNS * (n_timed * (DURATION + 2) + 10) + WARMUP + 15 ))
log "bench: targets [$TARGETS], workloads [$WORKLOADS], $RUNS x ${DURATION}s; about $(( per_target * $(wc -w <<<"$TARGETS") + 40 )) s"

start_nginx
for t in $TARGETS; do bench_target "$t"; done
if has_workload issue; then
  if [[ $BUILD == 1 ]]; then
    log "bench: building egressd (npx tsc -p .)"
    (cd "$ROOT" && npx tsc -p .) >"$TMP/logs/tsc.log" 2>&1 || log "bench: WARNING npx tsc -p . reported errors"
  fi
  bench_issue
fi

log ""
node "$BENCH_DIR/intercept-report.mjs" table "$RAW" "$RESULTS_DIR"
