#!/bin/sh
# Make sure Debian's chromium is installed at /usr/bin/chromium (for the browser tests).
# Idempotent and quiet when it is already there; needs root (CI) or sudo; no display needed.
# Never runs `playwright install`: the tests drive this system chromium via executable_path.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    echo "ensure_chromium: $CHROMIUM is missing and this user cannot install packages (not root, no sudo)" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: $CHROMIUM is missing and apt-get is not available (install chromium yourself)" >&2
    exit 1
fi

echo "ensure_chromium: installing Debian chromium with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

if [ ! -x "$CHROMIUM" ]; then
    echo "ensure_chromium: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
"$CHROMIUM" --headless --no-sandbox --version >&2 || true
