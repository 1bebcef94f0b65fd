#!/usr/bin/env bash
# A real Secret Service keyring for tests/vault: gnome-keyring, run under dbus-run-session by the
# tests themselves (they unlock a fresh login keyring non-interactively).
set -euo pipefail
need=()
command -v gnome-keyring-daemon >/dev/null || need+=(gnome-keyring)
command -v dbus-run-session >/dev/null || need+=(dbus)
command -v secret-tool >/dev/null || need+=(libsecret-tools)
if [ ${#need[@]} -eq 0 ]; then
  echo "gnome-keyring already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" dbus-x11
