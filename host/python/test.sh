#!/bin/sh
# The Python package's test suite: builds `seam` (host/python) into a fresh virtual
# environment under target/ and runs its pytest suite. Needs python3 (3.10 or newer)
# with venv and pip; pip fetches maturin and pytest. The extension is built with
# cargo's dev profile, which shares the workspace's already-built (optimised)
# dependencies; `pip install ./host/python` for use builds it in release.
set -eu
cd "$(dirname "$0")/../.."
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "host/python/test.sh: needs python3 3.10 or newer on PATH" >&2
  exit 1
fi
venv=target/python-venv
rm -rf "$venv"
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  echo "host/python/test.sh: python3 -m venv failed; install venv (Debian: apt install python3-venv)" >&2
  exit 1
fi
# The client's tests start the `seam` binary as a server.
cargo build --quiet --bin seam
MATURIN_PEP517_ARGS="--profile dev" "$venv/bin/pip" install --quiet --disable-pip-version-check "./host/python[test]"
"$venv/bin/python" -m pytest -q host/python/tests "$@"
