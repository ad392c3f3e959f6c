#!/usr/bin/env bash
# Build the separate environment that holds the reference implementations used by
# benchmarks/run.py (neural-tangents on JAX). It is an optional benchmark dependency only:
# never a runtime or test dependency of hierlearn. About 2.6 GB (TensorFlow comes along).
#
# Usage: benchmarks/setup_reference_env.sh [ENV_DIR]
#   ENV_DIR defaults to benchmarks/.reference-env (git-ignored).
# Uses the Python that runs `python3` unless PYTHON is set.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
env_dir="${1:-$here/.reference-env}"
python="${PYTHON:-python3}"

if [ ! -x "$env_dir/bin/python" ]; then
    "$python" -m venv "$env_dir"
fi
"$env_dir/bin/python" -m pip install --upgrade pip
# neural-tangents 0.6.5 imports only with exactly these pins (newer jax removed APIs it uses).
"$env_dir/bin/python" -m pip install \
    "jax==0.4.35" "jaxlib==0.4.35" "neural-tangents==0.6.5" "tf2jax<0.3.8" numpy
"$env_dir/bin/python" -c "import neural_tangents, jax; print('neural-tangents', \
neural_tangents.__version__, 'jax', jax.__version__)"
