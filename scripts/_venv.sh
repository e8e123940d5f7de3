# Sourced by scripts/run and scripts/test: create or reuse .venv and install the project with
# the extras given in EXTRAS, again only when setup.cfg or pyproject.toml changed; then compile
# the solver. Each stage says so on a line of its own, starting with the script's name; pip's
# own output goes to .venv/install.log, shown when the install fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
script=scripts/$(basename "$0")
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "$script: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-${EXTRAS:-base}"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "$script: installing PlusAlpha${EXTRAS:+[$EXTRAS]} and its dependencies into .venv (pip)"
  if ! {
    .venv/bin/python -m pip install --quiet --upgrade pip &&
      .venv/bin/python -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"
  } >.venv/install.log 2>&1; then
    tail -n 20 .venv/install.log >&2
    echo "$script: the install failed; pip's whole output is in .venv/install.log" >&2
    exit 1
  fi
  touch "$stamp" .venv/.installed-base # every extra installs the base too
fi
# Compile the engine's solver (numba) once here, so that servers and tests that start several
# processes find it in numba's cache beside service/engine/solver.py instead of each compiling
# it at its first solve; when solver.py is unchanged since, this loads it from the cache.
if compgen -G "service/engine/__pycache__/solver.*.nbi" >/dev/null &&
  [ -z "$(find service/engine/__pycache__ -name 'solver.*.nbi' ! -newer service/engine/solver.py)" ]; then
  echo "$script: loading the solver from numba's cache"
else
  echo "$script: compiling the solver with numba (once, then cached: a minute or more)"
fi
.venv/bin/python - "$script" <<'PYTHON'
import sys
import time

from numba.core.registry import CPUDispatcher

from service.engine import solver
from service.engine.optimize import compile_solver

start = time.monotonic()
compile_solver()
compiled = any(
    sum(f.stats.cache_misses.values())
    for f in vars(solver).values()
    if isinstance(f, CPUDispatcher)
)
how = "compiled" if compiled else "loaded from numba's cache"
print(f"{sys.argv[1]}: solver {how} in {time.monotonic() - start:.1f} s")
PYTHON
