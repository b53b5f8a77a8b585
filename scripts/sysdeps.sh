#!/usr/bin/env bash
# System packages the test suite needs: a PostgreSQL 15 server. Installs them with apt when
# they are missing (as root, or through sudo); says clearly what to do otherwise.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system packages: ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "remit: please install ${need[*]} (apt-get install ${need[*]}); no root or sudo here" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
