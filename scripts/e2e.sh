#!/usr/bin/env bash
# The whole lane end to end on one machine, exactly as the Pipeline's steps run it:
#   a source repository (the Bun + TypeScript AgentRun sample, samples/agentrun) and a GitOps
#   remote behind `git daemon`, real images built and pushed with buildah (vfs, chroot), then
#   validate → plan → build → publish → promote → render --no-write → verify --only static;
#   then the CD half on the real single-node cluster of scripts/cluster.sh: Argo CD syncs the
#   GitOps branch with the generated AppProject and Application, the Deployment rolls out the
#   images lane built, and `lane verify` judges live, argo, gitops and source with the shipped
#   verify ServiceAccount's token under real RBAC.
# Run 1 initialises the lane (every service built); then one service changes and run 2 shows
# that service rebuilt, the other reused, and the new digest rolled out. The GitOps commits
# stay for you to inspect.
#
# usage: scripts/e2e.sh [--workdir DIR] [--keep-running] [--no-cluster]
#   --no-cluster    the CI half only, with a registry of its own (no Kubernetes)
#   LANE_BIN=path   use this lane binary instead of building target/release/lane
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
work=""
keep=0
use_cluster=1
while (($#)); do
  case "$1" in
    --workdir) work=$2; shift 2 ;;
    --keep-running) keep=1; shift ;;
    --no-cluster) use_cluster=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "e2e: unknown argument $1" >&2; exit 2 ;;
  esac
done

started=$SECONDS
phase_start=$SECONDS
say() { printf '\n== [%4ds] %s\n' "$((SECONDS - started))" "$*"; phase_start=$SECONDS; }
took() { printf '   (%ds)\n' "$((SECONDS - phase_start))"; }
info() { printf '   %s\n' "$*"; }
die() { echo "e2e: $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {'d': d}))" "$@"; }

# --- tools -------------------------------------------------------------------------------
if ! command -v buildah >/dev/null || ! command -v docker-registry >/dev/null \
   || ! command -v skopeo >/dev/null; then
  say "installing tools (docker-registry, buildah, skopeo, validators)"
  scripts/install-test-deps.sh
fi
export PATH="$HOME/.local/bin:$PATH"
if [[ -z ${LANE_BIN:-} ]]; then
  say "building lane (release)"
  cargo build --release --locked --quiet --bin lane
  LANE_BIN=$top/target/release/lane
fi
lane() { "$LANE_BIN" --quiet "$@"; }
info "lane: $("$LANE_BIN" --version)"

[[ -n $work ]] || work=$(mktemp -d "${TMPDIR:-/tmp}/lane-e2e.XXXXXX")
mkdir -p "$work"
work=$(cd "$work" && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the cluster (CD half) --------------------------------------------------------------------
if ((use_cluster)); then
  say "the single-node cluster: scripts/cluster.sh up (builds are cached after the first run)"
  scripts/cluster.sh up
  eval "$(scripts/cluster.sh env)"
  kc() { "$LANE_CLUSTER_BIN/kubectl" --kubeconfig "$LANE_CLUSTER_KUBECONFIG" "$@"; }
  took
fi

# --- registry and git daemon -------------------------------------------------------------------
if ((use_cluster)); then
  say "using the cluster's registry; starting a git daemon on loopback"
else
  say "starting a registry and a git daemon on loopback"
fi
rport=$(free_port)
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<CFG
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$rport
CFG
reg_pid=""
if ((use_cluster == 0)); then
  docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
  reg_pid=$!
fi
gport=$(free_port)
mkdir -p "$work/git"
git init -q --bare "$work/git/agentrun.git"
# git-daemon itself, not `git daemon` (which runs it as a child that `kill` would miss).
"$(git --exec-path)/git-daemon" --reuseaddr --base-path="$work/git" --export-all --enable=receive-pack \
  --listen=127.0.0.1 --port="$gport" >"$work/git/daemon.log" 2>&1 &
gd_pid=$!
# --keep-running leaves these for you (and for benches/cd_release.rs) to stop.
printf '%s\n' $reg_pid "$gd_pid" > "$work/pids"
cleanup() {
  if ((keep == 0)); then kill $reg_pid "$gd_pid" 2>/dev/null || true; wait 2>/dev/null || true; fi
}
trap cleanup EXIT
registry=127.0.0.1:$rport
((use_cluster)) && registry=$LANE_CLUSTER_REGISTRY
remote=git://127.0.0.1:$gport/agentrun.git
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/${registry%:*}/${registry##*:}") 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$gport) 2>/dev/null && break
  sleep 0.1
done
info "registry $registry, git remote $remote"

# --- the source repository: shipped deploy.json + small build contexts ---------------------
say "creating the source repository (branch v0.1)"
src=$work/source
git init -q -b v0.1 "$src"
git -C "$src" config user.name "AgentRun Dev"
git -C "$src" config user.email "dev@agentrun.invalid"
mkdir -p "$src/deploy"
# The shipped lane, pointed at this machine's registry and git remote (nothing else changes).
python3 - "$top/deploy/deploy.json" "$src/deploy/deploy.json" "$registry" "$remote" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["lane"]["registry"]["host"] = sys.argv[3]
d["lane"]["sourceRepo"] = sys.argv[4]
json.dump(d, open(sys.argv[2], "w"), indent=2)
open(sys.argv[2], "a").write("\n")
PY
# The lane's CI checks (deploy/ci-checks.json): the pinned Bun image runs install, type check
# and unit tests per package in the validate stage.
cp "$top/deploy/ci-checks.json" "$src/deploy/ci-checks.json"
# The services: the Bun + TypeScript sample (samples/agentrun), on the Bun base image built
# here from the npm registry's Bun binary and pushed to the registry (pinned by digest).
bun_base=$(scripts/build-bun-base.sh --push "$registry/lane/bun:e2e" --tls-verify false | tail -n1)
bun_image=$(json <(printf '%s' "$bun_base") "d['pinned']")
info "Bun base image $bun_image"
mkdir -p "$src/apps"
for svc in mgr runner; do
  mkdir -p "$src/apps/$svc"
  (cd samples/agentrun/apps/$svc && git ls-files -z --cached --others --exclude-standard . \
    | xargs -0 -I{} cp --parents {} "$src/apps/$svc/")
done
printf '# AgentRun (e2e fixture)\n\nLane v0.1 runs in namespace agentrun-v01.\n' > "$src/README.md"
git -C "$src" add -A
git -C "$src" commit -q -m "AgentRun v0.1 source"
git -C "$src" remote add origin "$remote"
git -C "$src" push -q origin v0.1
info "source commit $(git -C "$src" rev-parse HEAD)"

export BUILDAH_ROOT=$work/buildah/root BUILDAH_RUNROOT=$work/buildah/run
bah() { buildah --storage-driver vfs --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUNROOT" "$@"; }

# --- one PipelineRun's steps ----------------------------------------------------------------
run_pipeline() {
  local n=$1 commit=$2 init=$3
  local run=$work/run-$n
  local pr="agentrun-v01-ci-${commit:0:12}"
  mkdir -p "$run/results" "$run/publish"
  say "run $n: PipelineRun $pr"

  info "prepare-source: clone $remote at $commit"
  git clone -q --no-checkout "$remote" "$run/src"
  git -C "$run/src" checkout -q --detach "$commit"

  lane validate "$run/src/deploy/deploy.json" --repo-root "$run/src" > "$run/validate.json"
  info "validate: $(json "$run/validate.json" "'ok' if d['valid'] else 'FAILED'")"
  # The validate Task's CI steps, as the cluster runs them, inside the Bun image.
  LANE_BIN="$LANE_BIN" scripts/run-ci-checks.sh --src "$run/src" --commit "$commit" \
    --image "$bun_image" --tls-verify false 2>"$run/ci-checks.log" | sed 's/^/   validate ci: /' \
    || die "run $n: the CI checks failed; see $run/ci-checks.log"

  local init_flag=()
  [[ $init == yes ]] && init_flag=(--init)
  lane plan --repo "$run/src" --commit "$commit" --gitops-remote "$remote" "${init_flag[@]}" \
    --out "$run/plan.json" --result-affected "$run/results/affected" \
    --result-counts "$run/results/counts" --result-commit "$run/results/commit" > /dev/null
  info "plan: $(json "$run/plan.json" "', '.join(s['id'] + '=' + s['decision'] for s in d['services'])")"

  local affected
  affected=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))))' "$run/results/affected")
  for svc in $affected; do
    local ctx df repo
    ctx=$(json "$run/plan.json" "[s for s in d['services'] if s['id']=='$svc'][0]['build']['context']")
    df=$(json "$run/plan.json" "[s for s in d['services'] if s['id']=='$svc'][0]['build']['dockerfile']")
    repo=$(json "$run/plan.json" "[s for s in d['services'] if s['id']=='$svc'][0]['imageRepository']")
    bah bud --quiet --isolation chroot --tls-verify=false --build-arg "BUN_IMAGE=$bun_image" \
      -f "$run/src/$df" -t "$repo:$commit" \
      --label "org.opencontainers.image.revision=$commit" \
      --label "org.opencontainers.image.source=$remote" \
      --label "dev.lane.service=$svc" --label "dev.lane.dockerfile=$df" --label "dev.lane.lane=v0.1" \
      "$run/src/$ctx" > /dev/null
    bah push --quiet --tls-verify=false "$repo:$commit" "docker://$repo:$commit"
    info "build-publish: built and pushed $repo:$commit"
  done

  # The cluster's registry is plain HTTP on the node address (not loopback): say so explicitly.
  local insecure=()
  ((use_cluster)) && insecure=(--allow-insecure)
  lane publish --plan "$run/plan.json" --deploy "$run/src/deploy/deploy.json" "${insecure[@]}" \
    --out "$run/publish/publish.json" > "$run/publish-report.json"
  info "publish: $(json "$run/publish/publish.json" "', '.join(i['service'] + ' ' + i['status'] + ' ' + i['digest'][:19] for i in d['images'])")"

  lane promote --repo "$run/src" --commit "$commit" --publish "$run/publish" \
    --gitops-remote "$remote" "${init_flag[@]}" --pipeline-run "$pr" \
    --result-commit "$run/results/gitops-commit" --result-outcome "$run/results/outcome" > "$run/promote.json"
  info "promote: $(cat "$run/results/outcome") $(cat "$run/results/gitops-commit") on v0.1-gitops"

  lane render --deploy "$run/src/deploy/deploy.json" --repo "$run/src" --gitops-remote "$remote" \
    --no-write > "$run/render.json"
  info "render --no-write: $(json "$run/render.json" "'no changes' if not (d.get('added') or d.get('changed') or d.get('removed')) else 'would change: ' + str(d.get('added', []) + d.get('changed', []) + d.get('removed', []))")"

  lane verify --only static --repo "$run/src" --commit "$commit" --gitops-remote "$remote" > "$run/verify.json"
  info "verify --only static: $(json "$run/verify.json" "str(sum(1 for c in d['checks'] if c['status']=='pass')) + ' passed, ' + str(sum(1 for c in d['checks'] if c['status']=='fail')) + ' failed'")"
  took
  ((use_cluster)) && cd_half "$n" "$commit"
  return 0
}

# --- the CD half on the cluster: Argo CD syncs, pods run, verify judges ------------------------
cd_bootstrapped=0
cd_bootstrap() {
  local gen=$work/generated
  say "bootstrapping the CD half: namespaces, operator Secrets, verify RBAC, AppProject, Application"
  lane generate --deploy "$src/deploy/deploy.json" --out "$gen" > /dev/null
  local ns ci
  ns=$(json "$work/run-1/validate.json" "d['names']['namespace']")
  ci=$(json "$work/run-1/validate.json" "d['names']['tektonNamespace']")
  local namespace
  for namespace in "$ns" "$ci"; do
    kc create namespace "$namespace" --dry-run=client -o yaml | kc apply -f - > /dev/null
  done
  # The Secrets the lane names but never renders are the operator's (docs/operator-secrets.md).
  kc -n "$ns" create secret generic agentrun-v01-postgres \
    --from-literal=DATABASE_URL="postgres://agentrun@postgres.$ns.svc:5432/agentrun_v01" \
    --dry-run=client -o yaml | kc apply -f - > /dev/null
  kc -n "$ns" create secret generic agentrun-v01-codex \
    --from-literal=auth.json='{}' --from-literal=config.toml='' \
    --dry-run=client -o yaml | kc apply -f - > /dev/null
  # The PipelineRun's ServiceAccount and the Roles verify uses, exactly as generated.
  # `auth reconcile` first: it recreates a binding whose roleRef changed (immutable to apply)
  # when a cluster still holds an older lane's RBAC.
  kc auth reconcile -f "$gen/pipelines/rbac.yaml" > /dev/null
  kc apply -f "$gen/pipelines/rbac.yaml" > /dev/null
  kc apply -f "$gen/gitops/appproject.yaml" -f "$gen/gitops/application.yaml" > /dev/null
  local sa
  sa=$(json "$work/run-1/validate.json" "d['names']['tektonServiceAccount']")
  kc -n "$ci" create token "$sa" --duration=2h > "$work/verify-token"
  chmod 600 "$work/verify-token"
  info "Application $(json "$work/run-1/validate.json" "d['names']['argoApplication']") in $LANE_CLUSTER_ARGOCD_NAMESPACE, verify as $ci/$sa"
  cd_bootstrapped=1
  took
}

cd_half() {
  local n=$1 commit=$2 run=$work/run-$1
  ((cd_bootstrapped)) || cd_bootstrap
  say "run $n: Argo CD syncs, the pods roll out, lane verify judges the live release"
  local t0=$SECONDS rc=0
  lane verify --repo "$run/src" --commit "$commit" --gitops-remote "$remote" \
    --only live,argo,gitops,source --wait 300 \
    --api-server "$LANE_CLUSTER_API_SERVER" --ca-file "$LANE_CLUSTER_CA_FILE" \
    --token-file "$work/verify-token" > "$run/verify-live.json" || rc=$?
  info "verify live,argo,gitops,source: $(json "$run/verify-live.json" "str(sum(1 for c in d.get('checks', []) if c['status']=='pass')) + ' passed, ' + str(sum(1 for c in d.get('checks', []) if c['status']=='fail')) + ' failed'") in $((SECONDS - t0)) s"
  if ((rc != 0)); then
    json "$run/verify-live.json" "'\n'.join('   FAIL ' + c['id'] + ': ' + c.get('message', '') for c in d.get('checks', []) if c['status'] == 'fail') or d.get('error')" >&2
    die "run $n: lane verify failed on the cluster (exit $rc); see $run/verify-live.json"
  fi
  local ns app conds
  ns=$(json "$work/run-1/validate.json" "d['names']['namespace']")
  app=$(json "$work/run-1/validate.json" "d['names']['argoApplication']")
  conds=$(kc -n "$LANE_CLUSTER_ARGOCD_NAMESPACE" get application "$app" -o jsonpath='{.status.conditions[*].type}')
  info "Application $app: $(kc -n "$LANE_CLUSTER_ARGOCD_NAMESPACE" get application "$app" -o jsonpath='{.status.sync.status} {.status.health.status} at {.status.sync.revision}'), conditions: ${conds:-none}"
  [[ $conds != *OrphanedResourceWarning* ]] || die "run $n: Argo CD reports orphaned resources in $ns"
  kc -n "$ns" get pods -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.phase}{" "}{.status.containerStatuses[0].imageID}{"\n"}{end}' \
    | sed 's/^/   pod /'
  took
}

c1=$(git -C "$src" rev-parse HEAD)
run_pipeline 1 "$c1" yes

say "changing one service (agentrun-mgr) on v0.1"
printf '\n// e2e run 2: a change to the manager only.\nexport const E2E_BUILD = 2;\n' >> "$src/apps/mgr/src/app.ts"
git -C "$src" commit -q -am "mgr: change"
git -C "$src" push -q origin v0.1
c2=$(git -C "$src" rev-parse HEAD)
run_pipeline 2 "$c2" no

say "the GitOps branch v0.1-gitops"
git --git-dir "$work/git/agentrun.git" log --format='   %h %s' v0.1-gitops
gitops=$work/gitops-checkout
git clone -q --branch v0.1-gitops "$remote" "$gitops"
info "inspect it: $gitops (catalog deploy/artifact-catalog.v01.json, tree deploy/gitops/g14/runtime-v01)"
python3 - "$work" "$c1" "$c2" "$remote" <<'PY' > "$work/summary.json"
import json, os, sys
w, c1, c2, remote = sys.argv[1:]
runs = []
for n, c in ((1, c1), (2, c2)):
    plan = json.load(open(f"{w}/run-{n}/plan.json"))
    runs.append({
        "commit": c,
        "decisions": {s["id"]: s["decision"] for s in plan["services"]},
        "outcome": open(f"{w}/run-{n}/results/outcome").read().strip(),
        "gitopsCommit": open(f"{w}/run-{n}/results/gitops-commit").read().strip(),
        "verify": json.load(open(f"{w}/run-{n}/verify.json"))["ok"],
        "verifyLive": json.load(open(f"{w}/run-{n}/verify-live.json"))["ok"] if os.path.exists(f"{w}/run-{n}/verify-live.json") else None,
    })
print(json.dumps({"workdir": w, "remote": remote, "source": f"{w}/source", "gitopsCheckout": f"{w}/gitops-checkout", "runs": runs}, indent=2))
PY
info "summary: $work/summary.json"
say "done"
