#!/bin/sh
# The reviewers' page in a real browser: starts `seam serve` and drives headless
# Chromium through WebDriver (Selenium, with Debian's chromium and chromium-driver).
# Screenshots of the queue, a review and the report land in target/browser-artifacts.
#
# Without Chromium and ChromeDriver the suite says so and is skipped (every other test
# still runs); SEAM_REQUIRE_BROWSER=1 (set by .ci/run) makes their absence a failure.
set -eu
cd "$(dirname "$0")/../.."
chromium=$(command -v chromium || command -v chromium-browser || true)
driver=$(command -v chromedriver || true)
if [ -z "$chromium" ] || [ -z "$driver" ]; then
  msg="tests/browser/test.sh: needs Chromium and ChromeDriver (Debian: apt-get install chromium chromium-driver)"
  if [ "${SEAM_REQUIRE_BROWSER:-0}" = 1 ]; then
    echo "$msg" >&2
    exit 1
  fi
  echo "SKIPPED: $msg"
  exit 0
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "tests/browser/test.sh: needs python3 3.10 or newer on PATH" >&2
  exit 1
fi
venv=target/browser-venv
if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "tests/browser/test.sh: python3 -m venv failed; install venv (Debian: apt install python3-venv)" >&2
    exit 1
  fi
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "selenium==4.50.0" "pytest==9.2.0"
cargo build --quiet --bin seam
SEAM_BIN="$PWD/target/debug/seam" CHROMIUM="$chromium" CHROMEDRIVER="$driver" SE_OFFLINE=true \
  "$venv/bin/python" -m pytest -q tests/browser "$@"
