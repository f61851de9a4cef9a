#!/usr/bin/env bash
# Installs what the db_pool tests need (Debian's postgresql server), once.
# Idempotent: does nothing when initdb and postgres are already there. The
# tests themselves make a throwaway cluster (tests/fixtures/postgres.ts).
set -eu
for d in /usr/lib/postgresql/*/bin; do
  if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then exit 0; fi
done
if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then exit 0; fi
echo "tests/setup/postgres.sh: installing postgresql (Debian) for the db_pool tests" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
