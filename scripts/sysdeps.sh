#!/usr/bin/env bash
# System packages remit needs, installed with apt when missing (as root, or through sudo).
#   scripts/sysdeps.sh run   - what the app needs: pango for PDF letters (WeasyPrint), fonts
#   scripts/sysdeps.sh test  - the same, plus a PostgreSQL server and Debian's chromium
# Without root or sudo it says what to install; `run` then goes on (PDF letters will say
# they are unavailable), `test` stops.
set -euo pipefail
profile="${1:-test}"
need=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib libpango-1.0.so.0 || need+=(libpango-1.0-0)
have_lib libpangoft2-1.0.so.0 || need+=(libpangoft2-1.0-0)
have_lib libharfbuzz-subset.so.0 || need+=(libharfbuzz-subset0)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
if [ "$profile" = "test" ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system packages: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "remit: please install ${need[*]} (apt-get install ${need[*]}); no root or sudo here" >&2
  [ "$profile" = "run" ] && exit 0
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
