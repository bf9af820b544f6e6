#!/usr/bin/env bash
# Create the Python virtual environment for the peer comparisons (scripts/peers/*.py,
# scripts/compare_map.sh) with the pinned versions of scripts/peers/requirements.txt.
#
#   scripts/peers/setup_venv.sh [VENV_DIR]      (default: ./.peers-venv, gitignored)
#
# Needs python3 (3.11 was used for the published figures) with the venv module and network
# access to PyPI. CPU only: jax[cpu] comes in through scico's pins; no GPU packages.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-.peers-venv}"
req="$here/requirements.txt"
python="${PYTHON:-python3}"

if [[ ! -f "$req" ]]; then
    echo "error: $req is missing" >&2
    exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv with $("$python" --version 2>&1)" >&2
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --upgrade pip >&2
"$venv/bin/python" -m pip install -r "$req" >&2
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for p in ["numpy", "scipy", "scikit-image", "PyWavelets", "scico", "jax", "sigpy"]:
    print(f"{p} {md.version(p)}")
PY
echo "ready: $venv/bin/python" >&2
