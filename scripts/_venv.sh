# Sourced by scripts/run and scripts/test: create or reuse .venv and install the project with
# the extras given in EXTRAS, again only when setup.cfg or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-${EXTRAS:-base}"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"
  touch "$stamp" .venv/.installed-base  # every extra installs the base too
fi
# Compile the engine's solver (numba) once here, so that servers and tests that start several
# processes find it in numba's cache beside service/engine/solver.py instead of each compiling
# it at its first solve; when nothing changed, this loads it from the cache in about a second.
.venv/bin/python -c "from service.engine.optimize import compile_solver; compile_solver()"
