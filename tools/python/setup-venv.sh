#!/usr/bin/env bash
# Creates .venv/ (ignored by git) with the Python tools the tests drive, from PyPI with pip:
# never the system Python's site-packages, never from inside a test. Idempotent: a venv whose
# requirements have not changed since it was made is left as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."

requirements=tools/python/requirements-test.txt
venv=.venv
stamp="$venv/.requirements-test.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "python venv ready: $venv ($("$venv/bin/python" --version))"
  exit 0
fi

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "setup-venv: $python not found; install Python 3.9+ (Debian: apt-get install -y python3 python3-venv)" >&2; exit 1; }
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
echo "python venv made: $venv ($("$venv/bin/python" --version)); $("$venv/bin/python" -m pip show tritonclient | grep -E '^(Name|Version)' | tr '\n' ' ')"
