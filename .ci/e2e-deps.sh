#!/usr/bin/env bash
# Debian packages the end-to-end suite drives for real. Idempotent; apt-get update once.
# chromium + libnss3-tools (certutil): the browser test trusts the egressd CA in an NSS db.
# slapd + ldap-utils (ldapadd): the LDAP auth test runs its own slapd on a free port.
set -euo pipefail
need=()
for cmd_pkg in "curl:curl" "git:git" "openssl:openssl" "chromium:chromium" "certutil:libnss3-tools" "slapd:slapd" "ldapadd:ldap-utils"; do
  cmd=${cmd_pkg%%:*}; pkg=${cmd_pkg#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
echo "e2e dependencies ready"
