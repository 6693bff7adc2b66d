#!/usr/bin/env bash
# Puts the pinned Bun runtime in a cache directory outside the repository, from the npm
# registry's `@oven/bun-linux-x64` package (the glibc build of the `bun` package's binary),
# checked against the integrity npm published for that exact version. Idempotent: a cached
# binary that answers the pinned version is kept.
#
# usage: scripts/install-bun.sh          prints the binary's path on stdout
# Cache: LANE_BUN_CACHE (default /var/cache/lane-bun when writable, else ~/.cache/lane-bun);
# the binary is <cache>/<version>/bun. Needs npm (installed with apt when missing).
set -euo pipefail

BUN_VERSION=1.4.5
BUN_PACKAGE=@oven/bun-linux-x64
# `npm view @oven/bun-linux-x64@1.4.5 dist.integrity`
BUN_INTEGRITY='sha512-IWX9BELoGHAUtMonkeSaNaZwXzRk+oDw6Mk+HBFXd3KHYIBNBsIGRupMZPcgNoDbJpLu6gAJjIoIVPZtt1aJ1g=='

log() { echo "install-bun: $*" >&2; }

if [[ $(uname -sm) != "Linux x86_64" ]]; then
  log "only linux x86_64 is supported (the $BUN_PACKAGE build)"; exit 3
fi
cache=${LANE_BUN_CACHE:-}
if [[ -z $cache ]]; then
  if mkdir -p /var/cache/lane-bun 2>/dev/null && [[ -w /var/cache/lane-bun ]]; then
    cache=/var/cache/lane-bun
  else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/lane-bun
  fi
fi
dir=$cache/$BUN_VERSION
bin=$dir/bun
if [[ -x $bin ]] && [[ $("$bin" --version 2>/dev/null) == "$BUN_VERSION" ]]; then
  echo "$bin"; exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  log "apt-get install npm"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >&2
fi

mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "npm pack $BUN_PACKAGE@$BUN_VERSION"
(cd "$tmp" && npm pack --silent "$BUN_PACKAGE@$BUN_VERSION" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [[ $got != "$BUN_INTEGRITY" ]]; then
  log "integrity mismatch for $BUN_PACKAGE@$BUN_VERSION: got $got, want $BUN_INTEGRITY"; exit 3
fi
tar -xzf "$tgz" -C "$tmp" package/bin/bun
chmod 0755 "$tmp/package/bin/bun"
v=$("$tmp/package/bin/bun" --version)
[[ $v == "$BUN_VERSION" ]] || { log "the binary says $v, want $BUN_VERSION"; exit 3; }
mv -f "$tmp/package/bin/bun" "$bin"
log "bun $BUN_VERSION at $bin"
echo "$bin"
