#!/bin/sh
# The Python guest SDK's tests: its unit tests in plain CPython, then the end to end:
# `seam new gate --lang python`, the project's own native test, `seam bundle build`
# (which builds the component with componentize-py), `seam bundle test`, signing and
# verifying, and `seam check` through the real host (verdicts, a settings error, an
# exception answered as an error naming it). Builds `seam` and a fresh virtual
# environment under target/; pip fetches componentize-py and pytest. Needs python3
# 3.10 or newer with venv.
set -eu
cd "$(dirname "$0")/../.."
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "guest-sdk/python/test.sh: needs python3 3.10 or newer on PATH" >&2
  exit 1
fi
venv=target/guest-python-venv
rm -rf "$venv"
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  echo "guest-sdk/python/test.sh: python3 -m venv failed; install venv (Debian: apt install python3-venv)" >&2
  exit 1
fi
cargo build --quiet --bin seam
"$venv/bin/pip" install --quiet --disable-pip-version-check "./guest-sdk/python[test]"
SEAM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/seam" PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" -m pytest -q guest-sdk/python/tests "$@"
