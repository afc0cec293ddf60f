#!/usr/bin/env bash
# Installs KubeDiagrams (PyPI: kubediagrams, command `kube-diagrams`) for benchmarks/bench_kubediagrams.py,
# in its own virtualenv: it is a point of comparison, never a dependency of the app.
# KubeDiagrams draws with Graphviz through the `diagrams` package, which needs Debian's graphviz
# (and libgraphviz-dev for pygraphviz-style builds).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${KUBEDIAGRAMS_VENV:-.venv-kubediagrams}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
missing=""
for pkg in graphviz libgraphviz-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ ! -x "$VENV/bin/kube-diagrams" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "kubediagrams==${KUBEDIAGRAMS_VERSION:-0.8.0}"
fi
"$VENV/bin/kube-diagrams" --help >/dev/null
echo "$PWD/$VENV/bin/kube-diagrams"
