#!/usr/bin/env bash
# Installs what the browser test needs (Debian's chromium), once. Idempotent:
# does nothing when chromium is already there. Only root can use apt: for a
# contributor without root it installs nothing, says so loudly, and succeeds;
# tests/examples/browser.test.ts then skips itself with the same notice. CI
# runs as root, so there the browser test always runs.
set -eu
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<'NOTICE'
################################################################################
# tests/setup/chromium.sh: chromium is not installed, and apt needs root:      #
# the browser test (tests/examples/browser.test.ts) will be SKIPPED.           #
# To run it: sudo apt-get install chromium   (or run `make test` as root)      #
################################################################################
NOTICE
  exit 0
fi
echo "tests/setup/chromium.sh: installing chromium (Debian) for the websocket_chat browser test" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
