#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs the test dependencies, then
# runs every unit and integration test (real registry, real git servers, validators).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
export PATH="$HOME/.local/bin:$PATH"
cargo test --locked --all-targets -- --test-threads="${LANE_TEST_THREADS:-4}"
