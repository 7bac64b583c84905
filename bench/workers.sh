#!/usr/bin/env bash
# egressd multi-core scaling (issue 10): W1 (bench/run.sh) and W5 (bench/intercept.sh)
# through egressd with `workers: 1` and `workers: 2`, and with both node:cluster
# scheduling policies for 2 workers (rr: the primary accepts and hands connections out
# round-robin, node's default on Linux; none: the workers accept from the shared socket
# themselves). Prints the scaling table. Run by hand (see bench/README.md), never in CI.
#
# It starts nothing itself: each variant is one run of bench/run.sh or bench/intercept.sh
# (their start-up, pinning, nginx origin and load clients), told the worker count with
# BENCH_EGRESSD_WORKERS and the CPUs egressd may use with BENCH_EGRESSD_CPUS.
#
#   BENCH_WORKERS_VARIANTS  default "1 2:rr 2:none"
#   BENCH_EGRESSD_CPUS      default "0,1" (both cores for every variant, so only the
#                           worker count differs; the origin and load stay on CPU 1)
#   BENCH_WORKERS_WORKLOADS default "w1 w5"
#   BENCH_DURATION, BENCH_RUNS, BENCH_WARMUP ... are passed through to the scripts.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
VARIANTS=${BENCH_WORKERS_VARIANTS:-"1 2:rr 2:none"}
WORKLOADS=${BENCH_WORKERS_WORKLOADS:-"w1 w5"}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$BENCH_DIR/results}
KEEP_TMP=${BENCH_KEEP_TMP:-0}
LOOP=127.0.0.1

# log, die, is_uint, json_str and the EXIT trap (it stops nothing here: PIDS stays empty).
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

NCPU=$(nproc)
CPUS=${BENCH_EGRESSD_CPUS:-$( (( NCPU >= 2 )) && echo 0,1 || echo 0 )}
for v in $VARIANTS; do
  [[ $v =~ ^[0-9]+(:(rr|none))?$ ]] || die "bad variant '$v' in BENCH_WORKERS_VARIANTS (N or N:rr or N:none)"
done
for w in $WORKLOADS; do
  case $w in w1|w5) ;; *) die "unknown workload '$w' in BENCH_WORKERS_WORKLOADS (w1 w5)";; esac
done

# ---------------------------------------------------------------- build, config check
log "bench: building egressd (npx tsc -p .)"
(cd "$ROOT" && npx tsc -p .) >/dev/null 2>&1 || log "bench: WARNING npx tsc -p . reported errors; benchmarking the dist/ it emitted"
# The templates with placeholders filled and `workers: 2`, through the real validation.
TMP=$(mktemp -d /tmp/egressd-workers-bench.XXXXXX)
for tpl in egressd.bench.yaml egressd-intercept.bench.yaml; do
  sed -e 's/\${PROXY_PORT}/3128/g' -e 's/\${ORIGIN_PORT}/8080/g' -e 's/\${TLS_PORT}/8443/g' \
      -e "s|\\\${CA_DIR}|$TMP/ca|g" -e "s|\\\${ORIGIN_CA}|$TMP/origin-ca.pem|g" -e "s|\\\${ACCESS_LOG}|/dev/null|g" \
      "$BENCH_DIR/$tpl" > "$TMP/$tpl"
  printf 'workers: 2\n' >> "$TMP/$tpl"
  touch "$TMP/origin-ca.pem"
  (cd "$ROOT" && node bin/egressd.js check-config -c "$TMP/$tpl") >"$TMP/check.log" 2>&1 \
    || { cat "$TMP/check.log" >&2; die "bench/$tpl with workers: 2 does not pass check-config"; }
done

# ---------------------------------------------------------------- runs
OUT=$TMP/results
mkdir -p "$OUT"
run_variant() {  # WORKLOAD VARIANT
  local w=$1 v=$2 n=${2%%:*} policy=""
  [[ $v == *:* ]] && policy=${v#*:}
  local dir=$OUT/$w-$n-${policy:-default}
  mkdir -p "$dir"
  log "bench: $w with workers: $n${policy:+ (NODE_CLUSTER_SCHED_POLICY=$policy)}, egressd on CPUs $CPUS"
  local script=run.sh wl=w1
  [[ $w == w5 ]] && { script=intercept.sh; wl=w5; }
  env ${policy:+NODE_CLUSTER_SCHED_POLICY=$policy} BENCH_TARGETS=egressd BENCH_WORKLOADS=$wl \
    BENCH_EGRESSD_WORKERS="$n" BENCH_EGRESSD_CPUS="$CPUS" BENCH_BUILD=0 BENCH_RESULTS_DIR="$dir" \
    bash "$BENCH_DIR/$script" >&2 || die "$script failed for $w, workers $v"
}
for w in $WORKLOADS; do
  for v in $VARIANTS; do run_variant "$w" "$v"; done
done

# ---------------------------------------------------------------- table
mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
node - "$OUT" "$RESULTS_DIR/workers-$STAMP" "$CPUS" "$VARIANTS" <<'NODE'
const { readdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const [out, base, cpus, variants] = process.argv.slice(2);
const KEYS = { w1: ['w1_rps', 'W1 1 KiB keep-alive, req/s'], w5: ['w5_rps', 'W5 50 hosts intercepted, keep-alive, req/s'] };
const P99 = { w1: 'w1_p99_ms', w5: 'w5_p99_ms' };
const value = (dir, key) => {
  const f = readdirSync(dir).find((n) => n.endsWith('.json'));
  return f ? JSON.parse(readFileSync(join(dir, f), 'utf8')).medians?.egressd?.[key] : undefined;
};
const vs = variants.split(/\s+/).filter(Boolean);
const dirOf = (w, v) => join(out, `${w}-${v.split(':')[0]}-${v.split(':')[1] ?? 'default'}`);
const rows = [];
const fmt = (x) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const lines = [`egressd workers scaling, egressd on CPUs ${cpus} (origin and load on CPU 1)`, '', `| workload | ${vs.map((v) => `workers ${v}`).join(' | ')} | ${vs.slice(1).map((v) => `${v} / ${vs[0]}`).join(' | ')} |`, `|---|${vs.map(() => '---|').join('')}${vs.slice(1).map(() => '---|').join('')}`];
for (const w of Object.keys(KEYS)) {
  let have = false;
  try { readdirSync(dirOf(w, vs[0])); have = true; } catch {}
  if (!have) continue;
  const [key, label] = KEYS[w];
  const vals = vs.map((v) => { try { return value(dirOf(w, v), key); } catch { return undefined; } });
  const p99 = vs.map((v) => { try { return value(dirOf(w, v), P99[w]); } catch { return undefined; } });
  const ratio = vals.slice(1).map((x) => (x === undefined || !vals[0] ? '–' : `${(x / vals[0]).toFixed(2)}x`));
  lines.push(`| ${label} | ${vals.map(fmt).join(' | ')} | ${ratio.join(' | ')} |`);
  lines.push(`| ${w.toUpperCase()} p99 latency, ms | ${p99.map((x) => (x === undefined ? '–' : x.toFixed(1))).join(' | ')} | ${vs.slice(1).map(() => '').join(' | ')} |`);
  rows.push({ workload: w, variants: vs, rps: vals, p99_ms: p99 });
}
const text = lines.join('\n');
console.log(text);
writeFileSync(`${base}.md`, `${text}\n`);
writeFileSync(`${base}.json`, `${JSON.stringify({ cpus, rows }, null, 2)}\n`);
console.log(`\nsaved ${base}.json and .md`);
NODE
if [[ $KEEP_TMP == 1 ]]; then log "bench: temp dir kept: $TMP"; else rm -rf "$TMP"; TMP=""; fi
