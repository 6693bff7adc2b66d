#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs the test dependencies, starts the
# real single-node cluster once (scripts/cluster.sh; the first build takes about 20 minutes,
# later ones use the cache), then runs every unit and integration test (real registry, real git
# servers, validators, the cluster tier). Prints each phase's time.
#
#   LANE_TEST_CLUSTER=0   skip the cluster: its tests print that they skipped
#   LANE_TEST_TEKTON=0    the cluster without Tekton
#   LANE_TEST_THREADS=N   test threads (default 4)
#
# Everything the tests start runs in one session; whatever is still running when cargo ends is
# listed and stopped. The cluster is stopped again unless it was already up before.
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
phase() { printf 'test.sh: [%4ds] %s\n' "$((SECONDS - t0))" "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
  [[ -x $HOME/.cargo/bin/cargo ]] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "test.sh: cargo is not installed; install Rust >= 1.88 with rustup (https://rustup.rs)" >&2
  exit 3
fi

phase "installing test dependencies"
# The install script's last stdout line names the pip scripts directories to put on PATH.
path_add=$(scripts/install-test-deps.sh | sed -n 's/^PATH_ADD=//p' | tail -n1)
export PATH="${path_add:+$path_add:}$HOME/.local/bin:$PATH"

# The test build overlaps the cluster's start: on a fresh machine the cluster's first build
# waits on Go module downloads for minutes, time the Rust build can use.
build_log=$(mktemp -t lane-test-build.XXXXXX)
phase "building the tests in the background (log: $build_log)"
cargo test --locked --no-run --lib --bins --tests >"$build_log" 2>&1 &
build_pid=$!

cluster_started=0
cleanup() {
  kill "$build_pid" 2>/dev/null || true
  if ((cluster_started)); then
    phase "stopping the cluster"
    scripts/cluster.sh down >&2 || echo "test.sh: scripts/cluster.sh down reported a problem" >&2
  fi
}
trap cleanup EXIT

if [[ ${LANE_TEST_CLUSTER:-1} != 0 ]]; then
  if scripts/cluster.sh status >/dev/null 2>&1; then
    phase "the cluster is already up: using it (left running)"
  else
    phase "starting the cluster (scripts/cluster.sh up)"
    cluster_started=1
    scripts/cluster.sh up >&2
  fi
  eval "$(scripts/cluster.sh env)"
  if [[ ${LANE_TEST_TEKTON:-1} != 0 ]]; then
    # Tekton Pipelines and Triggers on it, for the real-Tekton tier (cached like the cluster).
    phase "Tekton on the cluster (scripts/cluster-tekton.sh up)"
    scripts/cluster-tekton.sh up >&2
    eval "$(scripts/cluster-tekton.sh env)"
  fi
fi

phase "waiting for the test build"
if ! wait "$build_pid"; then
  tail -n 60 -- "$build_log" >&2
  phase "the test build failed (log: $build_log)"
  exit 1
fi
phase "test build done"

phase "running the tests"
# A session of its own, so that anything a test leaves running can be found and stopped.
rc=0
# The output goes to a log as well as to the terminal, so that the failures can be shown again
# at the end, where a CI page that keeps only the tail of a long run still has them.
test_log=$(mktemp -t lane-test-run.XXXXXX)
setsid cargo test --locked --no-fail-fast --lib --bins --tests -- \
  --test-threads="${LANE_TEST_THREADS:-4}" >"$test_log" 2>&1 &
sid=$!
tail -n +1 -f --pid="$sid" -- "$test_log" &
tail_pid=$!
wait "$sid" || rc=$?
wait "$tail_pid" || true
if leftover=$(pgrep -s "$sid" -a 2>/dev/null) && [[ -n $leftover ]]; then
  echo "test.sh: stopping processes the tests left running:" >&2
  printf '  %s\n' "$leftover" >&2
  pkill -KILL -s "$sid" 2>/dev/null || true
fi
if ((rc != 0)); then
  # Each failed test's name and its panic message (what libtest printed under `failures:`,
  # from "panicked at" to the backtrace), each line cut at 2,000 characters.
  phase "failed tests and why (the whole output: $test_log)"
  awk '/^---- .* stdout ----$/ { print; block = 1; msg = 0; next }
       /^failures:$/ { block = 0 }
       block && /panicked at/ { msg = 1 }
       block && /^stack backtrace:$/ { msg = 0 }
       block && msg { print }' "$test_log" | cut -c1-2000 | head -n 400 >&2
  grep -E '^error: [0-9]+ targets? failed|^    `--' "$test_log" >&2 || true
fi
phase "tests finished (exit $rc)"
exit "$rc"
