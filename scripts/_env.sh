# Sourced by scripts/demo and scripts/test: a project virtualenv with the requested extras, reinstalled only
# when pyproject.toml or the extras change. Needs python3 (3.10+) with venv; everything else comes from PyPI.
# "test" is not an extra (it is not published): it means the [demo] extra plus pyproject's dependency group
# "test", which needs pip >= 25.1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TOKENTRACE_VENV:-$ROOT/.venv}
EXTRAS=$1
PYTHON=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
STAMP="$VENV/.tokentrace-$EXTRAS"
WANT=$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/_env.sh" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  if [ "$EXTRAS" = test ]; then
    "$VENV/bin/python" -m pip install -q --upgrade 'pip>=25.1'
    "$VENV/bin/python" -m pip install -q -e "$ROOT[demo]" --group "$ROOT/pyproject.toml:test"
  else
    "$VENV/bin/python" -m pip install -q -e "$ROOT[$EXTRAS]"
  fi
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
