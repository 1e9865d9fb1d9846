#!/usr/bin/env bash
# Serve Tsunagu: ./run.sh (everything) or ./run.sh web|worker|mail (one role).
# Installs what is missing, migrates, seeds demo data when the database is empty.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/python -m core.supervise "$@"
