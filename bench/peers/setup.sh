#!/usr/bin/env bash
# Installs the benchmark's peers (the servers a user would deploy instead of Switchyard), each into
# its own virtual environment under bench/peers/.venv/<peer>, from the pinned
# bench/peers/requirements-<peer>.txt. One environment per peer: kserve and mlserver pin
# conflicting fastapi/starlette versions (kserve 0.21.0 takes fastapi 0.165, mlserver 1.7.1 needs
# fastapi < 0.116). Nothing here is part of `npm test`; `BENCH_ONLY=peers npm run bench` skips a
# peer whose environment is absent.
#
# Usage: bash bench/peers/setup.sh [kserve] [mlserver] [pytriton]   (default: all three)
#        PYTHON=/path/to/python3 bash bench/peers/setup.sh           (default: python3)
# A peer that fails to install is reported and its environment removed; the others go on.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(kserve mlserver pytriton)

failed=()
for peer in "${peers[@]}"; do
  requirements="$here/requirements-$peer.txt"
  venv="$here/.venv/$peer"
  if [ ! -f "$requirements" ]; then
    echo "unknown peer '$peer' (no $requirements)" >&2
    failed+=("$peer")
    continue
  fi
  echo "== $peer: $venv"
  rm -rf "$venv"
  if "$python" -m venv "$venv" \
    && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pip==26.3 \
    && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"; then
    echo "== $peer: installed ($("$venv/bin/python" --version))"
  else
    echo "== $peer: FAILED to install; environment removed, the bench will skip it" >&2
    rm -rf "$venv"
    failed+=("$peer")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "not installed: ${failed[*]}" >&2
  exit 1
fi
