#!/usr/bin/env bash
# Installs what the browser test needs (Debian's chromium), once. Idempotent:
# does nothing when chromium is already there.
set -eu
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
echo "tests/setup/chromium.sh: installing chromium (Debian) for the websocket_chat browser test" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
