#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: the browser and network tools
# (Debian packages; fonts-noto-cjk so the Chinese page renders offline), then this project with its test extras
# (pip). kaleido (the image export) finds Debian's chromium on PATH (or at $BROWSER_PATH). ipset and nfacct let the
# kernel tests load IPVS mode's sets and the nfacct counters kube-proxy ≥ 1.31 uses.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
missing=""
for pkg in chromium chromium-driver iproute2 iptables nftables ipset nfacct tcpdump procps redis-server fonts-noto-cjk; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
python3 -m pip install -q -e '.[test,redis,video]'
