#!/usr/bin/env bash
# Runs the validate Task's project checks (tasks/validate.yaml: ci-prepare, ci-install,
# ci-typecheck, ci-test) on this machine the way the Task runs them: ci-prepare with the lane
# binary, the Bun steps inside the pinned Bun image with `buildah run` (vfs, chroot isolation,
# user 65532, the checkout mounted read-only, the scratch volume read-write). The step scripts
# and env come from the Task file itself, so this runs exactly what the cluster would.
# The lane proxy is left out unless --keep-proxy (this machine may not have it).
#
# usage: scripts/run-ci-checks.sh --src DIR --commit SHA --image REF
#                                 [--task FILE] [--tls-verify BOOL] [--cache DIR] [--keep-proxy]
#   --src      the source checkout (as prepare-source leaves it)
#   --commit   the full commit checked out there
#   --image    the Bun image, pinned by digest (default: the Task's ci-image default)
#   --cache    a directory to bind as the optional bun-cache workspace
# Env: LANE_BIN (default: lane on PATH, else target/release/lane, target/debug/lane);
#      BUILDAH_ROOT / BUILDAH_RUNROOT (default under ${TMPDIR:-/tmp}/lane-buildah).
# Prints one line per package on stdout (`<package>: install ok, typecheck ok, test ok`) and
# the ci-summary result on failure; step logs go to stderr. Exit 0 all passed, 1 a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
src="" commit="" image="" task=tasks/validate.yaml tls_verify=true cache="" keep_proxy=0
while (($#)); do
  case "$1" in
    --src) src=$2; shift 2 ;;
    --commit) commit=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --task) task=$2; shift 2 ;;
    --tls-verify) tls_verify=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --keep-proxy) keep_proxy=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run-ci-checks: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n $src && -n $commit ]] || { echo "run-ci-checks: --src and --commit are required" >&2; exit 2; }
src=$(cd "$src" && pwd)
log() { echo "run-ci-checks: $*" >&2; }

lane_bin=${LANE_BIN:-}
if [[ -z $lane_bin ]]; then
  lane_bin=$(command -v lane || true)
  for b in "$top/target/release/lane" "$top/target/debug/lane"; do
    [[ -n $lane_bin ]] || { [[ -x $b ]] && lane_bin=$b; }
  done
fi
[[ -x $lane_bin ]] || { log "no lane binary (set LANE_BIN)"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/lane-ci.XXXXXX")
root=${BUILDAH_ROOT:-${TMPDIR:-/tmp}/lane-buildah/root}
runroot=${BUILDAH_RUNROOT:-${TMPDIR:-/tmp}/lane-buildah/run}
bah() { buildah --storage-driver vfs --root "$root" --runroot "$runroot" "$@"; }
ctr=""
cleanup() {
  [[ -z $ctr ]] || bah rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The steps of the Task: <work>/<step>.sh, <work>/<step>.env (NAME=VALUE, each ended by a NUL:
# values hold newlines), and the image default.
python3 - "$task" "$work" "$keep_proxy" <<'PY'
import sys, yaml
task_file, work, keep_proxy = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
task = yaml.safe_load(open(task_file))
steps = {s["name"]: s for s in task["spec"]["steps"]}
params = {p["name"]: p.get("default", "") for p in task["spec"].get("params", [])}
open(f"{work}/image", "w").write(params.get("ci-image", ""))
for name in ("ci-prepare", "ci-install", "ci-typecheck", "ci-test"):
    if name not in steps:
        sys.exit(f"{task_file} has no step {name}: was it generated with deploy/ci-checks.json?")
    s = steps[name]
    open(f"{work}/{name}.sh", "w").write(s["script"])
    with open(f"{work}/{name}.env", "w") as f:
        for e in s.get("env", []):
            n, v = e["name"], e.get("value", "")
            if n.lower().endswith("_proxy") and not keep_proxy:
                continue
            if "\0" in v:
                sys.exit(f"{task_file}: step {name} env {n} holds a NUL")
            f.write(f"{n}={v}\0")
PY
[[ -n $image ]] || image=$(cat "$work/image")
mkdir -p "$work/ci" "$work/results"
chmod 0777 "$work/ci" "$work/results"   # an emptyDir: writable by the step's user

# Values for the Tekton variables the steps reference (the result in $REPLY: a command
# substitution would drop trailing newlines).
sub() {
  local v=$1
  v=${v//'$(params.commit)'/$commit}
  v=${v//'$(results.ci-summary.path)'/\/lane-results\/ci-summary}
  if [[ -n $cache ]]; then
    v=${v//'$(workspaces.bun-cache.bound)'/true}
    v=${v//'$(workspaces.bun-cache.path)'/\/bun-cache}
  else
    v=${v//'$(workspaces.bun-cache.bound)'/false}
    v=${v//'$(workspaces.bun-cache.path)'/}
  fi
  REPLY=$v
}

# ci-prepare: the lane step, on this machine with the lane binary (paths mapped to $work).
prep_env=()
while IFS= read -r -d '' kv; do
  k=${kv%%=*}; sub "${kv#*=}"; v=$REPLY
  case $k in
    CI_DIR) v=$work/ci ;;
    RESULT_PATH) v=$work/results/ci-summary ;;
  esac
  prep_env+=("$k=$v")
done < "$work/ci-prepare.env"
log "ci-prepare (lane $("$lane_bin" --version))"
if ! (cd "$src" && env PATH="$(dirname "$lane_bin"):$PATH" "${prep_env[@]}" /bin/sh -c "$(cat "$work/ci-prepare.sh")") >&2; then
  cat "$work/results/ci-summary" 2>/dev/null || true
  exit 1
fi
chmod -R a+rwX "$work/ci" "$work/results"

# The Bun steps in the pinned image.
log "ci image $image"
ctr=$(bah from --quiet --tls-verify="$tls_verify" "$image")
mounts=(-v "$src:/workspace/source/src:ro" -v "$work/ci:/lane-ci" -v "$work/results:/lane-results")
[[ -z $cache ]] || { mkdir -p "$cache"; chmod 0777 "$cache"; mounts+=(-v "$cache:/bun-cache"); }
status=0
out=$work/steps.log
: > "$out"
for step in ci-install ci-typecheck ci-test; do
  envs=()
  while IFS= read -r -d '' kv; do
    k=${kv%%=*}; sub "${kv#*=}"; v=$REPLY
    envs+=(--env "$k=$v")
  done < "$work/$step.env"
  log "$step"
  if ! bah run --isolation chroot --user 65532:65532 --workingdir /workspace/source/src \
      "${mounts[@]}" "${envs[@]}" "$ctr" -- /bin/sh -c "$(cat "$work/$step.sh")" 2>&1 | tee -a "$out" >&2; then
    status=1
    break
  fi
done

# One line per package: the outcome of each step that ran.
python3 - "$out" <<'PY'
import re, sys
seen = {}
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^ci: (\S+): (install|typecheck|test) (ok|FAILED.*)$", line.rstrip("\n"))
    if m:
        seen.setdefault(m[1], []).append(f"{m[2]} {m[3].split(' ')[0].lower()}")
for pkg, steps in seen.items():
    print(f"{pkg}: {', '.join(steps)}")
PY
if ((status)); then
  echo "--- ci-summary"
  cat "$work/results/ci-summary" 2>/dev/null || true
fi
exit "$status"
