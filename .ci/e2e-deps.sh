#!/usr/bin/env bash
# Debian packages the end-to-end suite drives for real. Idempotent; apt-get update once.
# chromium + libnss3-tools (certutil): the browser test trusts the egressd CA in an NSS db.
# squid + tinyproxy: real parent proxies (the tests start their own instances on free ports).
# redis-server: the shared-quota test starts its own on a free loopback port.
# haproxy: the PROXY protocol test runs its own (TCP mode, -db) in front of two egressd.
# slapd + ldap-utils (ldapadd): the LDAP auth test runs its own slapd on a free port.
# iproute2 (ip) + iptables: the transparent-mode test redirects a network namespace's traffic.
set -euo pipefail
need=()
for cmd_pkg in "curl:curl" "git:git" "openssl:openssl" "chromium:chromium" "certutil:libnss3-tools" "squid:squid" "tinyproxy:tinyproxy" "redis-server:redis-server" "haproxy:haproxy" "slapd:slapd" "ldapadd:ldap-utils" "ip:iproute2" "iptables:iptables"; do
  cmd=${cmd_pkg%%:*}; pkg=${cmd_pkg#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages' own services (squid on :3128, tinyproxy on :8888) from starting:
  # policy-rc.d exit 101 = action forbidden. An existing one is left alone.
  policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1; fi
  rc=0
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" || rc=$?
  [ "$made_policy" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || exit "$rc"
fi
echo "e2e dependencies ready"
