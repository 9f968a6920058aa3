#!/usr/bin/env bash
# Installs the Debian packages the tests drive, when missing: Chromium (the browser test) and
# nginx with the Lua module and lua-resty-websocket (parity tests and benchmarks), redis-server
# (push channels shared through Redis), apache2-utils and whois (htpasswd and mkpasswd, for auth_basic's
# password formats), curl and nghttp2-client (nghttp and h2load, the HTTP/2 tests' real clients).
# Run by `npm test` (pretest); does nothing when everything is there.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-extras lua-nginx-websocket)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v mkpasswd >/dev/null 2>&1 || need+=(whois)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v h2load >/dev/null 2>&1 && command -v nghttp >/dev/null 2>&1 || need+=(nghttp2-client)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The tests need these Debian packages: ${need[*]}. Install them (apt-get install ${need[*]}), then run npm test again." >&2
  exit 1
fi
echo "Installing ${need[*]} with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
