#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs the test dependencies, then
# runs every unit and integration test (real registry, real git servers, validators).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  [[ -x $HOME/.cargo/bin/cargo ]] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo is not installed; install Rust >= 1.88 with rustup (https://rustup.rs)" >&2
  exit 3
fi

# The install script's last stdout line names the pip scripts directories to put on PATH.
path_add=$(scripts/install-test-deps.sh | sed -n 's/^PATH_ADD=//p' | tail -n1)
export PATH="${path_add:+$path_add:}$HOME/.local/bin:$PATH"

cargo test --locked --no-fail-fast --lib --bins --tests -- --test-threads="${LANE_TEST_THREADS:-4}"
