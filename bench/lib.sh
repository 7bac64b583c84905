# shellcheck shell=bash
# Shared helpers of the bench scripts (run.sh, intercept.sh, cache.sh, auth-w1.sh, soak.sh; sourced, never run alone).
#
# The sourcing script sets, before calling the functions that use them:
#   LOOP (127.0.0.1), KEEP_TMP, PROXY_CPU, LOAD_CPU, NCPU, and while it runs
#   TMP (temp dir), PROXY_PID (the proxy being measured, or ""), NGINX_PID.
# Sourcing installs the EXIT/INT/TERM traps that stop every process in PIDS.

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; FAILED=1; exit 1; }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

json_str() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }

# ---------------------------------------------------------------- process bookkeeping
PIDS=()        # every background process this script started, in start order
TMP=""
FAILED=0       # set by die(): keep the temp dir, its logs say why

is_running() {  # a live process, not a zombie waiting to be reaped
  local pid=$1 st
  [[ -r /proc/$pid/stat ]] || return 1
  st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $st && $st != Z ]]
}

children_of() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }

stop_pid() {  # SIGTERM, wait up to 5 s, then SIGKILL; also its children (nginx workers)
  local pid=$1 kids i
  if is_running "$pid"; then
    kids=$(children_of "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do is_running "$pid" || break; sleep 0.1; done
    if is_running "$pid"; then
      log "bench: PID $pid ignored SIGTERM for 5 s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    for k in $kids; do
      if is_running "$k"; then kill -KILL "$k" 2>/dev/null || true; fi
    done
  fi
  wait "$pid" 2>/dev/null || true
}

forget_pid() {  # PID: it has been reaped; never signal that number again (PID reuse)
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local i
  for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do stop_pid "${PIDS[i]}"; done
  if [[ -n $TMP && -d $TMP ]]; then
    if [[ $KEEP_TMP == 1 || $FAILED == 1 ]]; then
      log "bench: temp dir kept: $TMP"
    else
      rm -rf "$TMP"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "bench: interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- dependencies
apt_install() {  # PACKAGE...: apt-get update + install, with the packages' services kept from starting
  (( $# == 0 )) && return 0
  [[ $(id -u) == 0 ]] || die "missing $*: run as root, or apt-get install $*"
  log "bench: installing $* (apt-get)"
  # Keep the packages' own services (nginx on :80, squid on :3128) from starting:
  # policy-rc.d exit code 101 = action forbidden (invoke-rc.d and deb-systemd-invoke).
  # An existing policy-rc.d is left alone (and not removed afterwards).
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local ok=1
  apt-get update -qq || ok=0
  if (( ok )); then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || ok=0; fi
  (( made_policy )) && rm -f "$policy"
  (( ok )) || die "apt-get failed"
}

# ---------------------------------------------------------------- ports, readiness, memory
free_ports() {  # N: N distinct free loopback ports, all held at once while they are picked
  node -e '
  const net = require("node:net"); const n = Number(process.argv[1]); const servers = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      servers.push(s);
      if (servers.length === n) {
        console.log(servers.map((x) => x.address().port).join(" "));
        servers.forEach((x) => x.close());
      }
    });
  }' "$1"
}

wait_port() {  # PID PORT NAME LOGFILE: wait until PORT accepts (30 s max) while PID lives
  local pid=$1 port=$2 name=$3 logf=$4 i
  for (( i = 0; i < 300; i++ )); do
    if ! is_running "$pid"; then
      log "bench: $name exited during start-up; last lines of $logf:"; tail -n 30 "$logf" >&2 || true
      die "$name did not start"
    fi
    if (exec 3<>"/dev/tcp/$LOOP/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  tail -n 30 "$logf" >&2 || true
  die "$name did not listen on $LOOP:$port within 30 s"
}

rss_kb() {  # VmRSS of PID plus its direct children, in kB
  local total=0 p kb
  for p in $1 $(children_of "$1"); do
    kb=$(awk '/^VmRSS:/ { print $2; exit }' "/proc/$p/status" 2>/dev/null) || kb=0
    total=$(( total + ${kb:-0} ))
  done
  echo "$total"
}

sample_rss() {  # PID SECONDS OUTFILE: max RSS sampled every 200 ms for SECONDS
  local pid=$1 secs=$2 out=$3 max=0 kb end
  end=$(( $(date +%s) + secs ))
  while (( $(date +%s) < end )); do
    kb=$(rss_kb "$pid")
    if (( kb > max )); then max=$kb; fi
    sleep 0.2
  done
  echo "$max" > "$out"
}

# ---------------------------------------------------------------- CPU accounting
# CPU accounting around each measured run. On a shared machine any other busy process
# distorts the numbers, so each run records, per CPU, how much went to processes that
# are not part of the bench ("foreign"); the report flags disturbed runs. On the proxy
# CPU, ours is the proxy (with children) and ksoftirqd/PROXY_CPU. On the load CPU, ours
# is this shell and everything it reaped (wrk, the Node client, helpers: the shell is
# pinned there), nginx, and ksoftirqd/LOAD_CPU (loopback packet processing).
CLK_TCK=$(getconf CLK_TCK)
cpu_jiffies() {  # CPU: user+nice+system of that CPU; then steal of the whole machine
  awk -v c="cpu$1" '$1 == c { b = $2 + $3 + $4 } $1 == "cpu" { s = $9 } END { print b + 0, s + 0 }' /proc/stat
}
pid_jiffies() {  # PID [1: add reaped children]: utime+stime in clock ticks
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return 0; }
  awk -v c="${2:-0}" '{ print $12 + $13 + (c ? $14 + $15 : 0) }' <<<"$st"
}
ksoftirqd_jiffies() { local p; p=$(pgrep -x "ksoftirqd/$1" 2>/dev/null | head -n 1) || true; if [[ -n $p ]]; then pid_jiffies "$p"; else echo 0; fi; }
proxy_jiffies() {
  local total=0 p
  [[ -n $PROXY_PID ]] || { echo 0; return 0; }
  for p in $PROXY_PID $(children_of "$PROXY_PID"); do total=$(( total + $(pid_jiffies "$p") )); done
  echo "$total"
}
load_jiffies() {  # this shell (and reaped children) and nginx
  local total p
  total=$(pid_jiffies $$ 1)
  for p in $NGINX_PID $(children_of "$NGINX_PID"); do total=$(( total + $(pid_jiffies "$p") )); done
  echo "$total"
}
cpu_snapshot() {  # time_ns busy_proxy_cpu busy_load_cpu steal proxy ksoftirqd_proxy ours_load ksoftirqd_load
  local bp bl st _
  read -r bp st < <(cpu_jiffies "$PROXY_CPU")
  read -r bl _ < <(cpu_jiffies "$LOAD_CPU")
  echo "$(date +%s%N) $bp $bl $st $(proxy_jiffies) $(ksoftirqd_jiffies "$PROXY_CPU") $(load_jiffies) $(ksoftirqd_jiffies "$LOAD_CPU")"
}
window_begin() { W_SNAP0=$(cpu_snapshot); }
window_end() {  # OUTFILE: CPU shares of the window as JSON, in % of one CPU
  local snap1
  snap1=$(cpu_snapshot)
  awk -v a="$W_SNAP0" -v b="$snap1" -v hz="$CLK_TCK" -v n="$NCPU" -v same="$(( PROXY_CPU == LOAD_CPU ))" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= 8; i++) d[i] = y[i] - x[i]
    cap = d[1] / 1e9 * hz
    if (same) { fp = d[2] - d[5] - d[6] - d[7]; fl = fp }   # one CPU for everything
    else { fp = d[2] - d[5] - d[6]; fl = d[3] - d[7] - d[8] }
    if (fp < 0) fp = 0; if (fl < 0) fl = 0
    printf "{\"seconds\":%.2f,\"proxy_cpu_pct\":%.1f,\"foreign_proxy_cpu_pct\":%.1f,\"foreign_load_cpu_pct\":%.1f,\"steal_pct\":%.1f,\"load_cpu_busy_pct\":%.1f}\n",
      d[1] / 1e9, 100 * d[5] / cap, 100 * fp / cap, 100 * fl / cap, 100 * d[4] / (cap * n), 100 * d[3] / cap
  }' > "$1"
}

# Numbers are only meaningful on a quiet machine: sets BUSY (% of all CPUs busy over 1 s)
# and warns if something else is busy.
busy_check() {
  local t1 i1 t2 i2
  read -r t1 i1 < <(awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6; exit }' /proc/stat)
  sleep 1
  read -r t2 i2 < <(awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6; exit }' /proc/stat)
  BUSY=$(( (t2 - t1) > 0 ? 100 * ((t2 - t1) - (i2 - i1)) / (t2 - t1) : 0 ))
  if (( BUSY > 10 )); then
    log "bench: WARNING the machine is ${BUSY}% busy before the bench starts; results will be noisy. Busiest processes:"
    ps -eo pid,pcpu,comm --sort=-pcpu | head -n 6 >&2 || true
  fi
}

# ---------------------------------------------------------------- build, descriptors, certificates
build_dist() {  # LOGFILE: npx tsc -p . in ROOT (writes dist/)
  log "bench: building egressd (npx tsc -p .)"
  # tsc still emits JavaScript when it reports type errors; a speed run can go on.
  if ! (cd "$ROOT" && npx tsc -p .) >"$1" 2>&1; then
    grep -E 'error TS' "$1" | head -n 10 >&2 || true
    log "bench: WARNING npx tsc -p . reported errors; benchmarking the dist/ it emitted"
  fi
}

fd_count() {  # PID: open file descriptors of PID and its direct children
  local total=0 p n
  for p in $1 $(children_of "$1"); do
    n=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || n=0
    total=$(( total + n ))
  done
  echo "$total"
}

# Test certificates, made with openssl in $TMP/tls (log: $TMP/logs/openssl.log).
mk_ca() {  # NAME CN: $TMP/tls/NAME.pem + NAME.key, a CA certificate
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$TMP/tls/$1.key" -out "$TMP/tls/$1.pem" >>"$TMP/logs/openssl.log" 2>&1 \
    || { cat "$TMP/logs/openssl.log" >&2; die "openssl: cannot create the $1 CA"; }
}

mk_origin_cert() {  # NAME SERIAL [SAN...]: $TMP/tls/origin/NAME.pem ("" = _default.pem, IP only), signed by mk_ca origin-ca
  # All origin certificates share one key, $TMP/tls/origin.key (made on first use): only
  # the certificate differs. SAN: DNS:NAME, any extra SAN entries given (DNS:x), IP:LOOP.
  local name=$1 serial=$2 file=$TMP/tls/origin/${1:-_default}.pem san="IP:$LOOP" extra
  shift 2
  for extra in "$@"; do san="$extra,$san"; done
  [[ -n $name ]] && san="DNS:$name,$san"
  mkdir -p "$TMP/tls/origin"
  if [[ ! -s $TMP/tls/origin.key ]]; then
    openssl genrsa -out "$TMP/tls/origin.key" 2048 >>"$TMP/logs/openssl.log" 2>&1 || die "openssl genrsa failed"
  fi
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san" > "$TMP/tls/ext.cnf"
  openssl req -new -key "$TMP/tls/origin.key" -subj "/CN=${name:-$LOOP}" -out "$TMP/tls/req.csr" >>"$TMP/logs/openssl.log" 2>&1 &&
  openssl x509 -req -in "$TMP/tls/req.csr" -CA "$TMP/tls/origin-ca.pem" -CAkey "$TMP/tls/origin-ca.key" -set_serial "$serial" \
    -days 2 -extfile "$TMP/tls/ext.cnf" -out "$file" >>"$TMP/logs/openssl.log" 2>&1 \
    || { tail -n 20 "$TMP/logs/openssl.log" >&2; die "openssl: cannot create the origin certificate for '${name:-default}'"; }
}
