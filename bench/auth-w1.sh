#!/usr/bin/env bash
# W1 (GET 1 KiB, keep-alive, 64 connections) through egressd without auth and with
# Basic auth on every request (auth.required, a htpasswd user; after the first request
# the credential is answered from the cache), side by side: req/s, p99 and the ratio
# (issue 5 target: at most 10% lower with auth). Run by hand after a build, never in CI:
#
#   bash bench/auth-w1.sh                          # 3 runs x 10 s per config
#   BENCH_DURATION=5 BENCH_RUNS=2 bash bench/auth-w1.sh
#
# Same method as bench/run.sh and bench/policy-w1.sh: nginx origin and wrk
# (bench/wrk.lua, absolute-URI requests, BENCH_PROXY_AUTH for the header) pinned to
# CPU 1, egressd pinned to CPU 0, loopback only; both proxies run at once and the runs
# alternate. Every process this script starts is stopped by PID on exit (bench/lib.sh).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
WARMUP=${BENCH_WARMUP:-2}
CONNS=${BENCH_W1_CONNS:-64}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
BUILD=${BENCH_BUILD:-1}
KEEP_TMP=${BENCH_KEEP_TMP:-0}
LOOP=127.0.0.1
PROXY_PID=""
NGINX_PID=""
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

for v in DURATION RUNS WARMUP CONNS PROXY_CPU LOAD_CPU; do is_uint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"; done
(( DURATION >= 1 && RUNS >= 1 )) || die "BENCH_DURATION and BENCH_RUNS must be >= 1"
for c in nginx wrk taskset node curl timeout; do command -v "$c" >/dev/null || die "$c not found (bench/run.sh installs nginx and wrk)"; done
NCPU=$(nproc)
if (( NCPU < 2 )); then log "auth-w1: WARNING only $NCPU CPU: everything shares CPU 0"; PROXY_CPU=0; LOAD_CPU=0; fi
taskset -pc "$LOAD_CPU" $$ >/dev/null

TMP=$(mktemp -d /tmp/egressd-auth-w1.XXXXXX)
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/nginx" "$TMP/none" "$TMP/auth" "$TMP/raw"
read -r ORIGIN_PORT PORT_NONE PORT_AUTH < <(free_ports 3)
[[ -n ${PORT_AUTH:-} ]] || die "could not pick free ports"
head -c 1024 /dev/urandom > "$TMP/www/1k"
chmod 644 "$TMP/www/1k"

# The users file: bcrypt cost 10 (what `egressd users add` writes); the cache makes the
# cost a one-off per credential.
USER_NAME=bench
PASSWORD=bench-password-$$
(cd "$ROOT" && node -e 'const b=require("bcryptjs"); process.stdout.write(`${process.argv[1]}:$2y$${b.hashSync(process.argv[2],10).slice(4)}\n`)' "$USER_NAME" "$PASSWORD") > "$TMP/auth/users"
AUTH_HEADER="Basic $(printf '%s:%s' "$USER_NAME" "$PASSWORD" | base64 -w0)"
for cfg in none auth; do
  port=$PORT_NONE; [[ $cfg == auth ]] && port=$PORT_AUTH
  sed -e "s/\${PROXY_PORT}/$port/g" -e "s/\${ORIGIN_PORT}/$ORIGIN_PORT/g" -e "s/\${TLS_PORT}/$ORIGIN_PORT/g" "$BENCH_DIR/egressd.bench.yaml" > "$TMP/$cfg/egressd.yaml"
done
printf 'auth: { required: true, users: %s, watch: false }\n' "$TMP/auth/users" >> "$TMP/auth/egressd.yaml"

cat > "$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  types { }
  default_type application/octet-stream;
  keepalive_requests 1000000;
  server { listen $LOOP:$ORIGIN_PORT backlog=4096; root $TMP/www; location / { } }
}
EOF
taskset -c "$LOAD_CPU" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" >"$TMP/nginx/out.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_port "$NGINX_PID" "$ORIGIN_PORT" nginx "$TMP/nginx/error.log"

if [[ $BUILD == 1 ]]; then
  log "auth-w1: building egressd (npx tsc -p .)"
  (cd "$ROOT" && npx tsc -p .) >"$TMP/tsc.log" 2>&1 || log "auth-w1: WARNING tsc reported errors; benchmarking the dist/ it emitted"
fi
declare -A EGRESSD
for cfg in none auth; do
  port=$PORT_NONE; [[ $cfg == auth ]] && port=$PORT_AUTH
  (cd "$ROOT" && exec taskset -c "$PROXY_CPU" node bin/egressd.js start -c "$TMP/$cfg/egressd.yaml") >"$TMP/$cfg/stdout.log" 2>"$TMP/$cfg/stderr.log" &
  EGRESSD[$cfg]=$!
  PIDS+=("$!")
  wait_port "$!" "$port" "egressd ($cfg)" "$TMP/$cfg/stderr.log"
done

probe() {  # PORT [AUTH]: the status egressd answers for the bench request
  curl -sS --noproxy '' -x "http://$LOOP:$1" ${2:+-H "Proxy-Authorization: $2"} -o /dev/null -w '%{http_code}' "http://$LOOP:$ORIGIN_PORT/1k" || true
}
[[ $(probe "$PORT_NONE") == 200 ]] || die "no-auth proxy does not answer 200"
[[ $(probe "$PORT_AUTH") == 407 ]] || die "auth proxy does not challenge a request without credentials (want 407)"
[[ $(probe "$PORT_AUTH" "$AUTH_HEADER") == 200 ]] || die "auth proxy refuses the bench credentials"

run_wrk() {  # PORT OUTFILE SECONDS [AUTH]
  BENCH_PATH="http://$LOOP:$ORIGIN_PORT/1k" BENCH_HOST="$LOOP:$ORIGIN_PORT" BENCH_CLOSE=0 BENCH_OUT=$2 BENCH_PROXY_AUTH=${4:-} \
    timeout -k 5 $(( $3 + 30 )) taskset -c "$LOAD_CPU" \
    wrk -t1 -c"$CONNS" -d"$3s" --timeout 5s --latency -s "$BENCH_DIR/wrk.lua" "http://$LOOP:$1/" >"$2.log" 2>&1 || { tail -n 20 "$2.log" >&2; die "wrk failed"; }
  [[ -s $2 ]] || die "wrk wrote no result ($2)"
}

log "auth-w1: W1 $CONNS conns; $RUNS x ${DURATION}s per config, alternating; egressd on CPU $PROXY_CPU, nginx + wrk on CPU $LOAD_CPU"
if (( WARMUP > 0 )); then
  run_wrk "$PORT_NONE" "$TMP/raw/warmup-none.json" "$WARMUP"
  run_wrk "$PORT_AUTH" "$TMP/raw/warmup-auth.json" "$WARMUP" "$AUTH_HEADER"
fi
for (( run = 1; run <= RUNS; run++ )); do
  run_wrk "$PORT_NONE" "$TMP/raw/none.$run.json" "$DURATION"
  sleep 1
  run_wrk "$PORT_AUTH" "$TMP/raw/auth.$run.json" "$DURATION" "$AUTH_HEADER"
  sleep 1
done
for cfg in none auth; do is_running "${EGRESSD[$cfg]}" || die "egressd ($cfg) exited during the bench"; done

node - "$TMP/raw" "$RUNS" <<'EOF'
const fs = require('node:fs');
const [dir, runs] = [process.argv[2], Number(process.argv[3])];
const best = {};
for (const cfg of ['none', 'auth']) {
  const all = [];
  for (let i = 1; i <= runs; i++) {
    const r = JSON.parse(fs.readFileSync(`${dir}/${cfg}.${i}.json`, 'utf8'));
    const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
    if (errors) { console.error(`${cfg} run ${i}: ${errors} errors (not a valid measurement)`); continue; }
    all.push({ rps: r.requests / (r.duration_us / 1e6), p99: r.latency_us.p99 / 1000, run: i });
  }
  if (!all.length) { console.error(`${cfg}: no valid run`); process.exit(1); }
  best[cfg] = all.sort((a, b) => b.rps - a.rps)[0];
}
const ratio = best.auth.rps / best.none.rps;
console.log(`\nW1 through egressd, best of ${runs} runs per config\n`);
console.log('| config | req/s | p99 ms | best run |\n|---|---|---|---|');
console.log(`| no auth | ${Math.round(best.none.rps)} | ${best.none.p99.toFixed(2)} | ${best.none.run} |`);
console.log(`| Basic auth on every request (cached) | ${Math.round(best.auth.rps)} | ${best.auth.p99.toFixed(2)} | ${best.auth.run} |`);
console.log(`\nauth / no auth: req/s ${ratio.toFixed(3)} (${((1 - ratio) * 100).toFixed(1)}% lower), p99 ${(best.auth.p99 / best.none.p99).toFixed(2)}x`);
console.log(`target (at most 10% lower): ${ratio >= 0.9 ? 'met' : 'NOT met'}`);
EOF
