#!/usr/bin/env bash
# W1 (GET 1 KiB, keep-alive, 64 connections) through egressd without a policy and with
# a generated 1,000-rule policy, side by side: req/s, p99 and the ratio (issue 4 target:
# at most 10% lower with the policy). Run by hand after a build, never in CI:
#
#   bash bench/policy-w1.sh                       # 3 runs x 10 s per config
#   BENCH_DURATION=5 BENCH_RUNS=2 bash bench/policy-w1.sh
#   BENCH_MIX=80:0:20 bash bench/policy-w1.sh      # rule mix: % hosts:sources:ports
#
# Same method as bench/run.sh: nginx origin and wrk (bench/wrk.lua, absolute-URI
# requests) pinned to CPU 1, egressd pinned to CPU 0, loopback only. Both proxies run
# at once (an idle one costs nothing) and the runs alternate (none, policy, none, ...)
# so a noisy neighbour disturbs both configs alike; each config reports its best run.
# Every process this script starts is stopped by PID on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_W1_CONNS:-64}
RULES=${BENCH_RULES:-1000}
MIX=${BENCH_MIX:-60:20:20}            # % of host : sources : ports rules (before the default)
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
BUILD=${BENCH_BUILD:-1}
KEEP_TMP=${BENCH_KEEP_TMP:-0}
LOOP=127.0.0.1

log() { printf '%s\n' "$*" >&2; }
FAILED=0
die() { log "policy-w1: $*"; FAILED=1; exit 1; }

for v in DURATION RUNS WARMUP CONNS RULES PROXY_CPU LOAD_CPU; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
(( DURATION >= 1 && RUNS >= 1 && RULES >= 10 )) || die "BENCH_DURATION, BENCH_RUNS >= 1 and BENCH_RULES >= 10"
[[ $MIX =~ ^[0-9]+:[0-9]+:[0-9]+$ ]] || die "BENCH_MIX must be HOSTS:SOURCES:PORTS percentages (got '$MIX')"
IFS=: read -r _h _s _p <<<"$MIX"; (( _h + _s + _p > 0 )) || die "BENCH_MIX must not be all zero"
for c in nginx wrk taskset node curl timeout; do
  command -v "$c" >/dev/null || die "$c not found (bench/run.sh installs nginx and wrk)"
done
NCPU=$(nproc)
if (( NCPU < 2 )); then
  log "policy-w1: WARNING only $NCPU CPU: everything shares CPU 0"
  PROXY_CPU=0; LOAD_CPU=0
fi
(( PROXY_CPU < NCPU && LOAD_CPU < NCPU )) || die "BENCH_PROXY_CPU/BENCH_LOAD_CPU must be below $NCPU"
taskset -pc "$LOAD_CPU" $$ >/dev/null   # this shell and its helpers stay off the proxy CPU

# ---------------------------------------------------------------- processes (as run.sh)
PIDS=()
TMP=""
is_running() {
  local st
  [[ -r /proc/$1/stat ]] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $st && $st != Z ]]
}
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
stop_pid() {  # SIGTERM, up to 5 s, then SIGKILL; nginx workers too
  local pid=$1 kids i
  if is_running "$pid"; then
    kids=$(children_of "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do is_running "$pid" || break; sleep 0.1; done
    if is_running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    for k in $kids; do if is_running "$k"; then kill -KILL "$k" 2>/dev/null || true; fi; done
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do stop_pid "${PIDS[i]}"; done
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $KEEP_TMP == 1 || $FAILED == 1 ]]; then log "policy-w1: temp dir kept: $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "policy-w1: interrupted"; exit 130' INT TERM

wait_port() {  # PID PORT NAME LOGFILE
  local i
  for (( i = 0; i < 300; i++ )); do
    is_running "$1" || { tail -n 30 "$4" >&2 || true; die "$3 exited during start-up"; }
    if (exec 3<>"/dev/tcp/$LOOP/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  tail -n 30 "$4" >&2 || true
  die "$3 did not listen on $LOOP:$2 within 30 s"
}

# ---------------------------------------------------------------- files and ports
TMP=$(mktemp -d /tmp/egressd-policy-w1.XXXXXX)
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/nginx" "$TMP/none" "$TMP/policy" "$TMP/raw"
read -r ORIGIN_PORT PORT_NONE PORT_POLICY < <(node -e '
  const net = require("node:net"); const servers = [];
  for (let i = 0; i < 3; i++) {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      servers.push(s);
      if (servers.length === 3) { console.log(servers.map((x) => x.address().port).join(" ")); servers.forEach((x) => x.close()); }
    });
  }')
[[ -n ${PORT_POLICY:-} ]] || die "could not pick free ports"
head -c 1024 /dev/urandom > "$TMP/www/1k"
chmod 755 "$TMP/www"; chmod 644 "$TMP/www/1k"

# The policy: RULES-1 rules that never match the bench request, then the default.
# Host rules (exact names, "*." suffixes, ".domain" and real globs such as api7-*.corp)
# go through the host index; sources and ports rules apply to every host, so each
# request evaluates them all: that is the cost being measured.
node - "$RULES" "$ORIGIN_PORT" "$MIX" > "$TMP/policy/policy.yaml" <<'EOF'
const [rules, originPort] = process.argv.slice(2, 4).map(Number);
const [h, s, p] = process.argv[4].split(':').map(Number);
const out = ['version: 1', 'rules:'];
const body = rules - 1;
const nHosts = Math.round((body * h) / (h + s + p));
const nSources = Math.round((body * s) / (h + s + p));
const nPorts = body - nHosts - nSources;
for (let i = 0; i < nHosts; i++) {
  const hosts =
    i % 4 === 0 ? [`host${i}.example.net`] :
    i % 4 === 1 ? [`*.svc${i}.example.com`] :
    i % 4 === 2 ? [`.dom${i}.example.org`, `www${i}.example.org`] :
    [`api${i}-*.corp.example`];
  out.push(`  - id: host-${i}`, `    hosts: [${hosts.map((h) => JSON.stringify(h)).join(', ')}]`, '    action: deny', `    reason: host rule ${i}`);
}
for (let i = 0; i < nSources; i++) {
  out.push(`  - id: src-${i}`, `    sources: ["10.${i % 256}.${Math.floor(i / 256)}.0/24", "fd00:${i.toString(16)}::/32"]`, '    action: deny');
}
let port = 20000;
for (let i = 0; i < nPorts; i++) {
  if (port === originPort) port++;
  out.push(`  - id: port-${i}`, `    ports: [${port++}]`, '    methods: [GET, POST]', '    action: deny');
}
out.push('  - id: default', '    action: allow', '    reason: bench default');
process.stdout.write(out.join('\n') + '\n');
EOF
NRULES=$(grep -c '^  - id: ' "$TMP/policy/policy.yaml")
(( NRULES == RULES )) || die "generated $NRULES rules, wanted $RULES"

for cfg in none policy; do
  port=$PORT_NONE; [[ $cfg == policy ]] && port=$PORT_POLICY
  sed -e "s/\${PROXY_PORT}/$port/g" -e "s/\${ORIGIN_PORT}/$ORIGIN_PORT/g" -e "s/\${TLS_PORT}/$ORIGIN_PORT/g" \
    "$BENCH_DIR/egressd.bench.yaml" > "$TMP/$cfg/egressd.yaml"
done
printf 'policy: { files: [%s], watch: false }\n' "$TMP/policy/policy.yaml" >> "$TMP/policy/egressd.yaml"

# ---------------------------------------------------------------- nginx origin
cat > "$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  types { }
  default_type application/octet-stream;
  sendfile on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  server {
    listen $LOOP:$ORIGIN_PORT backlog=4096;
    root $TMP/www;
    location / { }
  }
}
EOF
taskset -c "$LOAD_CPU" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" >"$TMP/nginx/out.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_port "$NGINX_PID" "$ORIGIN_PORT" nginx "$TMP/nginx/error.log"

# ---------------------------------------------------------------- egressd x 2
if [[ $BUILD == 1 ]]; then
  log "policy-w1: building egressd (npx tsc -p .)"
  (cd "$ROOT" && npx tsc -p .) >"$TMP/tsc.log" 2>&1 || log "policy-w1: WARNING tsc reported errors; benchmarking the dist/ it emitted"
fi
declare -A PROXY_PID
for cfg in none policy; do
  port=$PORT_NONE; [[ $cfg == policy ]] && port=$PORT_POLICY
  (cd "$ROOT" && exec taskset -c "$PROXY_CPU" node bin/egressd.js start -c "$TMP/$cfg/egressd.yaml") \
    >"$TMP/$cfg/stdout.log" 2>"$TMP/$cfg/stderr.log" &
  PROXY_PID[$cfg]=$!
  PIDS+=("$!")
  wait_port "$!" "$port" "egressd ($cfg)" "$TMP/$cfg/stderr.log"
done

code=$(curl -sS --noproxy '' -x "http://$LOOP:$PORT_NONE" -o /dev/null -w '%{http_code}' "http://$LOOP:$ORIGIN_PORT/1k") || true
[[ $code == 200 ]] || die "no-policy proxy answered '$code'"
code=$(curl -sS --noproxy '' -x "http://$LOOP:$PORT_POLICY" -o /dev/null -w '%{http_code}' "http://$LOOP:$ORIGIN_PORT/1k") || true
[[ $code == 200 ]] || die "policy proxy answered '$code' for the bench request"
# Proof the policy is in force: a host from the generated rules is refused.
code=$(curl -sS --noproxy '' -x "http://$LOOP:$PORT_POLICY" -o /dev/null -w '%{http_code}' "http://host4.example.net:$ORIGIN_PORT/1k") || true
[[ $code == 403 ]] || die "policy proxy answered '$code' for a host its policy denies (want 403)"

run_wrk() {  # PORT OUTFILE SECONDS
  BENCH_PATH="http://$LOOP:$ORIGIN_PORT/1k" BENCH_HOST="$LOOP:$ORIGIN_PORT" BENCH_CLOSE=0 BENCH_OUT=$2 \
    timeout -k 5 $(( $3 + 30 )) taskset -c "$LOAD_CPU" \
    wrk -t1 -c"$CONNS" -d"$3s" --timeout 5s --latency -s "$BENCH_DIR/wrk.lua" "http://$LOOP:$1/" \
    >"$2.log" 2>&1 || { tail -n 20 "$2.log" >&2; die "wrk failed"; }
  [[ -s $2 ]] || die "wrk wrote no result ($2)"
}

log "policy-w1: $RULES rules (hosts:sources:ports $MIX); W1 $CONNS conns; $RUNS x ${DURATION}s per config, alternating; egressd on CPU $PROXY_CPU, nginx + wrk on CPU $LOAD_CPU"
if (( WARMUP > 0 )); then
  run_wrk "$PORT_NONE" "$TMP/raw/warmup-none.json" "$WARMUP"
  run_wrk "$PORT_POLICY" "$TMP/raw/warmup-policy.json" "$WARMUP"
fi
for (( run = 1; run <= RUNS; run++ )); do
  for cfg in none policy; do
    port=$PORT_NONE; [[ $cfg == policy ]] && port=$PORT_POLICY
    run_wrk "$port" "$TMP/raw/$cfg.$run.json" "$DURATION"
    log "  run $run $cfg: $(node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const e = Object.values(r.errors).reduce((a, b) => a + b, 0);
      console.log(`${Math.round(r.requests / (r.duration_us / 1e6))} req/s, p99 ${(r.latency_us.p99 / 1000).toFixed(2)} ms${e ? `, ${e} errors` : ""}`);' "$TMP/raw/$cfg.$run.json")"
    sleep 1
  done
done
for cfg in none policy; do
  is_running "${PROXY_PID[$cfg]}" || die "egressd ($cfg) exited during the bench"
done

node - "$TMP/raw" "$RUNS" "$RULES" "$MIX" <<'EOF'
const fs = require('node:fs');
const [dir, runs, rules, mix] = [process.argv[2], Number(process.argv[3]), process.argv[4], process.argv[5]];
const best = {};
let bad = false;
for (const cfg of ['none', 'policy']) {
  const all = [];
  for (let i = 1; i <= runs; i++) {
    const r = JSON.parse(fs.readFileSync(`${dir}/${cfg}.${i}.json`, 'utf8'));
    const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
    if (errors) { bad = true; console.error(`${cfg} run ${i}: ${errors} errors (not a valid measurement)`); continue; }
    all.push({ rps: r.requests / (r.duration_us / 1e6), p99: r.latency_us.p99 / 1000, run: i });
  }
  if (!all.length) { console.error(`${cfg}: no valid run`); process.exit(1); }
  best[cfg] = all.sort((a, b) => b.rps - a.rps)[0];
}
const ratio = best.policy.rps / best.none.rps;
const row = (name, b) => `| ${name} | ${Math.round(b.rps)} | ${b.p99.toFixed(2)} | ${b.run} |`;
console.log('');
console.log(`W1 through egressd, best of ${runs} runs per config`);
console.log('');
console.log('| config | req/s | p99 ms | best run |');
console.log('|---|---|---|---|');
console.log(row('no policy', best.none));
console.log(row(`${rules}-rule policy (hosts:sources:ports ${mix})`, best.policy));
console.log('');
console.log(`policy / no policy: req/s ${ratio.toFixed(3)} (${((1 - ratio) * 100).toFixed(1)}% lower), p99 ${(best.policy.p99 / best.none.p99).toFixed(2)}x`);
console.log(`target (at most 10% lower): ${ratio >= 0.9 ? 'met' : 'NOT met'}${bad ? ' (some runs had errors)' : ''}`);
EOF
