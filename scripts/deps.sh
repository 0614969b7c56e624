#!/usr/bin/env bash
# Installs the Debian packages profenrich builds, tests and demos with, when missing.
set -euo pipefail
pkgs=(postgresql-15 postgresql-server-dev-15 libopenblas-dev
      postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron
      libxgboost-dev gcc make)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
