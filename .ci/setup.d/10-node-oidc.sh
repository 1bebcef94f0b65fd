#!/usr/bin/env bash
# The real OAuth server of tests/auth: the `oidc-provider` npm package (a certified OpenID
# Provider), installed from the committed package-lock.json into tests/auth/oidc/node_modules.
set -euo pipefail
cd "$(dirname "$0")/../../tests/auth/oidc"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
  else
    echo "node and npm are required for tests/auth (oidc-provider)" >&2
    exit 1
  fi
fi
if node -e "const want = require('./package.json').dependencies['oidc-provider'];
  process.exit(require('./node_modules/oidc-provider/package.json').version === want ? 0 : 1)" 2>/dev/null; then
  echo "oidc-provider already installed"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
