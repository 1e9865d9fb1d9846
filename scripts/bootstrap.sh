#!/usr/bin/env bash
# Install what Tsunagu needs into the project folder, idempotently and quickly when
# nothing changed: .venv (requirements), static/vendor (npm registry), compiled
# translations.  Usage: scripts/bootstrap.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."
req=requirements.txt
[ "${1:-}" = "dev" ] && req=requirements-dev.txt

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
stamp=".venv/.installed-$(basename "$req" .txt)"
want=$(cat requirements.txt "$req" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages ($req)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat static/vendor/.installed 2>/dev/null)" != "$want" ]; then
  command -v npm >/dev/null || { echo "npm is required to install the front-end libraries" >&2; exit 1; }
  echo "==> installing front-end libraries from the npm registry"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  rm -rf static/vendor && mkdir -p static/vendor/swagger-ui
  cp node_modules/socket.io-client/dist/socket.io.min.js static/vendor/
  cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js 2>/dev/null \
    || cp node_modules/chart.js/dist/chart.umd.js static/vendor/chart.umd.min.js
  cp node_modules/swagger-ui-dist/{swagger-ui.css,swagger-ui-bundle.js,swagger-ui-standalone-preset.js} static/vendor/swagger-ui/
  echo "$want" > static/vendor/.installed
fi

# Compiled message catalogues are build output (git-ignored).
for catalogue in translations */translations; do
  compgen -G "$catalogue/*/LC_MESSAGES/*.po" >/dev/null || continue
  .venv/bin/pybabel compile -d "$catalogue" >/dev/null 2>&1 || .venv/bin/pybabel compile -d "$catalogue"
done
