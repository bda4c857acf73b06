#!/usr/bin/env bash
# System packages the test suite drives for real: Debian's Chromium (the browser tests, through
# Playwright with executablePath /usr/bin/chromium) and wrk (the benchmark's load generator,
# whose refresh-chain script has its own test). Installed with apt-get when missing and running
# as root; otherwise a message, and the tests that need them fail under CI=true.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
    exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
