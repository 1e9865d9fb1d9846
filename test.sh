#!/usr/bin/env bash
# Run the whole test suite: once on SQLite, once on PostgreSQL, against a private real
# Redis, real worker and web processes and Debian's Chromium.  Extra arguments go to pytest.
# With CI=true nothing may be missing: PostgreSQL and Chromium are found, started or
# installed, or the run fails loudly.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev
CI=${CI:-false}
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}

fail() { echo "test.sh: $*" >&2; exit 1; }

pg_ready() { .venv/bin/python -c "import psycopg,os; psycopg.connect(os.environ['TEST_DATABASE_URL'], connect_timeout=3).close()" 2>/dev/null; }
if ! pg_ready && command -v pg_ctlcluster >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  sleep 2
fi
backends="sqlite postgresql"
if ! pg_ready; then
  [ "$CI" = "true" ] && fail "PostgreSQL is not reachable at $TEST_DATABASE_URL (CI=true: nothing may be skipped)"
  echo "!! PostgreSQL not reachable at $TEST_DATABASE_URL: running the SQLite pass only" >&2
  backends="sqlite"
fi

if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> installing Chromium from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null) \
    || echo "!! could not install Chromium" >&2
fi
if [ ! -x /usr/bin/chromium ]; then
  [ "$CI" = "true" ] && fail "Chromium is missing at /usr/bin/chromium (CI=true: nothing may be skipped)"
  echo "!! Chromium missing: browser tests will be skipped" >&2
fi

echo "==> ruff"
.venv/bin/ruff check . || fail "ruff found problems"

status=0
for backend in $backends; do
  echo "==> pytest on $backend"
  TSUNAGU_TEST_DB=$backend .venv/bin/python -m pytest "$@" || status=$?
done
exit $status
