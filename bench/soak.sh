#!/usr/bin/env bash
# egressd load and soak bench (issue 10): minutes of mixed traffic at a fixed rate from
# several client processes through one egressd, checking that memory stays flat, no file
# descriptors leak and no well-formed request fails. Run by hand (see bench/README.md),
# never in CI. Everything is on 127.0.0.1, in a temp dir; every process it starts is
# stopped by PID on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

usage() {
  cat <<'EOF'
Usage: bash bench/soak.sh [options]

Load and soak test of egressd: local origins (node HTTP and HTTPS), one egressd built
from dist/ (interception on for one host, a deny rule for another, Basic auth with a
users file made by `egressd users add`, cache on, access log to a file), and K client
processes sending a fixed-rate mix: plain HTTP (keep-alive and a new connection each),
a slow response, a cached URL, a denied URL (403), CONNECT tunnels passed through and
intercepted (keep-alive and new), a denied CONNECT (403). Every request is authenticated.

Every 5 s it samples egressd's RSS (/proc/PID/status VmRSS), open fds (/proc/PID/fd)
and event-loop lag; per minute it prints requests, errors by kind and p50/p90/p99/max
latency. The verdict: RSS growth after the warm-up < 10%, fd growth (idle after vs idle
before the load) <= 3, no errors, nothing left in flight. Raw samples go to
bench/results/soak-<time>.json.

Options:
  --minutes N     duration of the load, in whole minutes (default 10)
  --rate R        requests per second, all clients together (default 400)
  --clients K     client processes (default 4)
  --sample-s S    seconds between samples (default 5)
  --rss-limit P   RSS growth limit in % (default 10)
  --fd-margin N   fd growth allowed (default 3)
  --only KIND     send only this kind of the mix (see bench/README.md), e.g. intercept-new
  --check-only    set everything up, send every kind of request once, stop (no load)
  --keep-tmp      keep the temp dir (configs, logs) even on PASS
  -h, --help      this help

Environment: BENCH_BUILD=0 skips `npx tsc -p .` (uses the dist/ already built);
BENCH_RESULTS_DIR (default bench/results).

Exit status: 0 PASS, 1 FAIL, 2 the setup is broken (a request kind fails before the load).
EOF
}

MINUTES=10
RATE=400
CLIENTS=4
SAMPLE_S=5
RSS_LIMIT=10
FD_MARGIN=3
KEEP_TMP=0
CHECK_ONLY=0
ONLY=""
BUILD=${BENCH_BUILD:-1}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$BENCH_DIR/results}
LOOP=127.0.0.1   # the only address anything is sent to

# log, die, is_uint, PIDS and the EXIT trap (stop_pid), free_ports, wait_port, busy_check,
# build_dist, mk_ca, mk_origin_cert.
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

while (( $# > 0 )); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --minutes|--rate|--clients|--sample-s|--rss-limit|--fd-margin)
      (( $# >= 2 )) || die "$1 needs a value"
      is_uint "$2" || die "$1 must be a non-negative integer (got '$2')"
      case $1 in
        --minutes) MINUTES=$2 ;; --rate) RATE=$2 ;; --clients) CLIENTS=$2 ;;
        --sample-s) SAMPLE_S=$2 ;; --rss-limit) RSS_LIMIT=$2 ;; --fd-margin) FD_MARGIN=$2 ;;
      esac
      shift 2 ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    --check-only) CHECK_ONLY=1; shift ;;
    --only) (( $# >= 2 )) || die "$1 needs a value"; ONLY=$2; shift 2 ;;
    *) log "soak: unknown option '$1'"; usage >&2; exit 2 ;;
  esac
done
(( MINUTES >= 1 && RATE >= 1 && CLIENTS >= 1 && SAMPLE_S >= 1 )) || die "--minutes, --rate, --clients and --sample-s must be >= 1"
(( CLIENTS <= 64 && RATE <= 20000 )) || die "--clients must be <= 64 and --rate <= 20000"
for c in node openssl timeout; do command -v "$c" >/dev/null || die "$c not found"; done

busy_check   # warns when the machine is busy before the start: the run measures the machine then
if [[ $BUILD == 1 ]]; then build_dist "/tmp/egressd-soak-tsc.$$.log"; rm -f "/tmp/egressd-soak-tsc.$$.log"; fi
[[ -f $ROOT/dist/server/proxy-server.js ]] || die "dist/ not found: egressd is not built (npx tsc -p .)"

# ---------------------------------------------------------------- temp dir, ports, files
TMP=$(mktemp -d /tmp/egressd-soak.XXXXXX)
E=$TMP/egressd
mkdir -p "$TMP/tls" "$TMP/logs" "$E"
read -r HTTP_PORT HTTPS_PORT PROXY_PORT < <(free_ports 3)
[[ -n ${PROXY_PORT:-} ]] || die "could not pick free ports"

# The origin's certificate (tunnel.soak and intercept.soak), signed by a CA of the soak's
# own: the tunnel clients trust it, and egressd verifies the intercepted origin with it.
mk_ca origin-ca "egressd-soak origin CA"
mk_origin_cert tunnel.soak 1001 DNS:intercept.soak
ORIGIN_CA=$TMP/tls/origin-ca.pem

# egressd resolves the soak's names through this file (bench/egressd-hosts.mjs), never /etc/hosts.
printf '127.0.0.1 localhost plain.soak tunnel.soak intercept.soak denied.soak\n' > "$TMP/hosts"

# The users file, made by the CLI the way an admin does (bcrypt, mode 0600).
USER_NAME=soak
PASSWORD=soak-$$-$RANDOM$RANDOM
printf '%s\n' "$PASSWORD" | (cd "$ROOT" && node bin/egressd.js users add "$USER_NAME" -f "$E/users") >"$TMP/logs/users.log" 2>&1 \
  || { cat "$TMP/logs/users.log" >&2; die "egressd users add failed"; }

cat > "$E/policy.yaml" <<'EOF'
version: 1
rules:
  - id: soak-deny
    hosts: [denied.soak]
    action: deny
    reason: denied by the soak policy
  - id: default
    action: allow
EOF

# The forwarding bench template, with the cache on, the access log to a file, and the
# soak's interception, auth and policy sections added.
sed -e "s/\${PROXY_PORT}/$PROXY_PORT/g" -e "s/\${ORIGIN_PORT}/$HTTP_PORT/g" -e "s/\${TLS_PORT}/$HTTPS_PORT/g" \
  -e "s|^log: .*$|log: { access: $E/access.log, level: warn }|" \
  -e "s|^cache: .*$|cache: { enabled: true, memory: { maxSize: 64MiB, maxObjectSize: 1MiB } }|" \
  "$BENCH_DIR/egressd.bench.yaml" > "$E/egressd.yaml"
cat >> "$E/egressd.yaml" <<EOF
# bench/soak.sh: decrypt intercept.soak only; tunnel.soak is passed through.
tls: { intercept: hosts, include: [intercept.soak], ca: { dir: $E/ca }, upstreamCaFiles: [$ORIGIN_CA] }
auth: { required: true, users: $E/users, watch: false }
policy: { files: [$E/policy.yaml] }
EOF
grep -q '^cache: { enabled: true' "$E/egressd.yaml" && grep -q "^log: { access: $E/access.log" "$E/egressd.yaml" \
  || die "could not adapt bench/egressd.bench.yaml (cache and log lines)"
(cd "$ROOT" && node bin/egressd.js check-config -c "$E/egressd.yaml") >"$TMP/logs/check-config.log" 2>&1 \
  || { cat "$TMP/logs/check-config.log" >&2; die "the generated config is invalid"; }

# ---------------------------------------------------------------- origins, egressd
node "$BENCH_DIR/soak/origin.mjs" --http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" \
  --cert "$TMP/tls/origin/tunnel.soak.pem" --key "$TMP/tls/origin.key" >"$TMP/logs/origin.out" 2>"$TMP/logs/origin.err" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
wait_port "$ORIGIN_PID" "$HTTP_PORT" origin "$TMP/logs/origin.err"
wait_port "$ORIGIN_PID" "$HTTPS_PORT" origin "$TMP/logs/origin.err"

# bench/egressd-hosts.mjs: egressd from dist/ with the soak's hosts file; SIGUSR2 prints
# a snapshot (heap, what it tracks, and with EGRESSD_BENCH_LAG=1 the event-loop lag).
(cd "$ROOT" && EGRESSD_BENCH_LAG=1 exec node bench/egressd-hosts.mjs "$E/egressd.yaml" "$TMP/hosts") >"$E/stdout.log" 2>"$E/stderr.log" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
wait_port "$PROXY_PID" "$PROXY_PORT" egressd "$E/stderr.log"
[[ -s $E/ca/ca.pem ]] || die "egressd did not create its CA in $E/ca"
log "soak: origin pid $ORIGIN_PID (http $HTTP_PORT, https $HTTPS_PORT), egressd pid $PROXY_PID on $LOOP:$PROXY_PORT; temp dir $TMP"

# ---------------------------------------------------------------- the soak
rc=0
timeout -k 5 $(( MINUTES * 60 + 240 )) node "$BENCH_DIR/soak/run.mjs" \
  --proxy-pid "$PROXY_PID" --proxy-port "$PROXY_PORT" --http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" \
  --user "$USER_NAME" --password "$PASSWORD" --origin-ca "$ORIGIN_CA" --egressd-ca "$E/ca/ca.pem" \
  --server-log "$E/stderr.log" --access-log "$E/access.log" --minutes "$MINUTES" --rate "$RATE" --clients "$CLIENTS" \
  --check-only "$CHECK_ONLY" --only "$ONLY" --sample-s "$SAMPLE_S" --rss-limit "$RSS_LIMIT" --fd-margin "$FD_MARGIN" --results-dir "$RESULTS_DIR" \
  --params "{\"git\":$(json_str "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"),\"node\":$(json_str "$(node --version)")}" \
  || rc=$?
(( rc == 124 || rc == 137 )) && log "soak: the driver did not finish in time"

is_running "$PROXY_PID" || { log "soak: egressd exited during the soak; last lines of its log:"; tail -n 20 "$E/stderr.log" >&2; rc=1; }
stop_pid "$PROXY_PID"; forget_pid "$PROXY_PID"
stop_pid "$ORIGIN_PID"; forget_pid "$ORIGIN_PID"
# The server log at error level or above (pino 50+), or an uncaught exception of the launcher.
problems=$(grep -cE '"level":(50|60)|^egressd-hosts:' "$E/stderr.log" || true)
log "soak: egressd server log lines at error level or above: $problems; origin: $(cat "$TMP/logs/origin.out" 2>/dev/null)"
(( problems == 0 )) || { grep -E '"level":(50|60)|^egressd-hosts:' "$E/stderr.log" | head -n 5 >&2; (( rc != 0 )) || rc=1; }
if (( rc != 0 )); then FAILED=1; fi
exit "$rc"
