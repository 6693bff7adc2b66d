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
# that service rebuilt, the other reused, and the new digest rolled out. With the cluster, run 2
# is the CI half for real: the generated Tasks, Pipeline and Triggers are applied on Tekton
# (scripts/cluster-tekton.sh), a GitHub-signed push webhook is posted to the in-cluster
# EventListener, and the PipelineRun it starts runs every Task (buildah in a pod); each
# TaskRun's outcome and time is printed, then `lane verify` judges all five groups. The GitOps
# commits stay for you to inspect.
#
# usage: scripts/e2e.sh [--workdir DIR] [--keep-running] [--no-cluster]
#   --no-cluster    the CI half only, with a registry of its own (no Kubernetes)
#   LANE_BIN=path   use this lane binary instead of building target/release/lane (in
#                   CARGO_TARGET_DIR when that is set)
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
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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
  LANE_BIN=${CARGO_TARGET_DIR:-$top/target}/release/lane
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
# With the cluster: the lane's proxy on loopback, as on g14 (the runs use hostNetwork).
proxy_pid="" lane_proxy=""
if ((use_cluster)); then
  pport=$(free_port)
  python3 scripts/connect-proxy.py --listen "127.0.0.1:$pport" --allow registry.npmjs.org:443 \
    >"$work/proxy.out" 2>"$work/proxy.log" &
  proxy_pid=$!
  lane_proxy=http://127.0.0.1:$pport
fi
# --keep-running leaves these for you (and for benches/cd_release.rs) to stop.
printf '%s\n' $reg_pid "$gd_pid" $proxy_pid > "$work/pids"
cleanup() {
  if ((keep == 0)); then kill $reg_pid "$gd_pid" $proxy_pid 2>/dev/null || true; wait 2>/dev/null || true; fi
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
python3 - "$top/deploy/deploy.json" "$src/deploy/deploy.json" "$registry" "$remote" "${LANE_CLUSTER_NODE_IP:-}" "${LANE_CLUSTER_SERVICE_CIDR:-}" "$lane_proxy" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["lane"]["registry"]["host"] = sys.argv[3]
d["lane"]["sourceRepo"] = sys.argv[4]
# The lane's proxy is for the outside world: the cluster's registry (node address) and its
# service range (the API server verify reaches) are direct.
d["lane"]["proxy"]["noProxy"] += [a for a in sys.argv[5:7] if a]
if sys.argv[7]:
    # g14's proxy is on the node's loopback (127.0.0.1:10808); here scripts/connect-proxy.py
    # stands in for it, reaching only the npm registry (the validate Task's `bun install`).
    d["lane"]["proxy"]["httpProxy"] = d["lane"]["proxy"]["httpsProxy"] = sys.argv[7]
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
# The checks run in this image (the validate Task on the cluster pulls it from the registry).
python3 - "$src/deploy/ci-checks.json" "$bun_image" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["image"] = sys.argv[2]
open(sys.argv[1], "w").write(json.dumps(d, indent=2) + "\n")
PY
mkdir -p "$src/apps"
for svc in mgr runner; do
  mkdir -p "$src/apps/$svc"
  (cd samples/agentrun/apps/$svc && git ls-files -z --cached --others --exclude-standard . \
    | xargs -0 -I{} cp --parents {} "$src/apps/$svc/")
done
# The services build on the Bun image in this machine's registry (the Dockerfiles' default
# names g14's host registry, 127.0.0.1:5000): the build step on the cluster pulls it there.
sed -i "s|^ARG BUN_IMAGE=.*|ARG BUN_IMAGE=$bun_image|" "$src"/apps/*/Dockerfile
printf '# AgentRun (e2e fixture)\n\nLane v0.1 runs in namespace agentrun-v01.\n' > "$src/README.md"
git -C "$src" add -A
git -C "$src" commit -q -m "AgentRun v0.1 source"
git -C "$src" remote add origin "$remote"
git -C "$src" push -q origin v0.1
info "source commit $(git -C "$src" rev-parse HEAD)"
# The Tasks as generated from this source (its ci-checks.json names the Bun image above).
gen=$work/generated
lane generate --deploy "$src/deploy/deploy.json" --out "$gen" > /dev/null

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
  LANE_BIN="$LANE_BIN" scripts/run-ci-checks.sh --src "$run/src" --commit "$commit" --task "$gen/tasks/validate.yaml" \
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
  say "bootstrapping the CD half: namespaces, operator Secrets, verify RBAC, AppProject, Application"
  local ns ci
  ns=$(json "$work/run-1/validate.json" "d['names']['namespace']")
  ci=$(json "$work/run-1/validate.json" "d['names']['tektonNamespace']")
  local namespace
  kc create namespace "$ns" --dry-run=client -o yaml | kc apply -f - > /dev/null
  # The CI namespace as generated: Pod Security enforced at the level the build step needs.
  kc apply -f "$gen/pipelines/namespace.yaml" > /dev/null
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
  local n=$1 commit=$2 run=$work/run-$1 groups=live,argo,gitops,source extra=()
  # A run the real Pipeline made is judged on its Tekton evidence too.
  if [[ -n ${3:-} ]]; then groups=live,argo,gitops,tekton,source; extra=(--pipeline-run "$3"); fi
  ((cd_bootstrapped)) || cd_bootstrap
  say "run $n: Argo CD syncs, the pods roll out, lane verify judges the live release"
  local t0=$SECONDS rc=0
  lane verify --repo "$run/src" --commit "$commit" --gitops-remote "$remote" \
    --only "$groups" "${extra[@]}" --wait 300 \
    --api-server "$LANE_CLUSTER_API_SERVER" --ca-file "$LANE_CLUSTER_CA_FILE" \
    --token-file "$work/verify-token" > "$run/verify-live.json" || rc=$?
  info "verify $groups: $(json "$run/verify-live.json" "str(sum(1 for c in d.get('checks', []) if c['status']=='pass')) + ' passed, ' + str(sum(1 for c in d.get('checks', []) if c['status']=='fail')) + ' failed'") in $((SECONDS - t0)) s"
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

# --- the CI half on Tekton: a signed webhook starts the shipped Pipeline ----------------------
ci_bootstrap() {
  say "the CI half on Tekton: task image, generated Tasks/Pipeline/Triggers, webhook Secret"
  scripts/cluster-tekton.sh status > /dev/null 2>&1 || scripts/cluster-tekton.sh up
  eval "$(scripts/cluster-tekton.sh env)"
  local img ci
  img=$(BUILDAH_ROOT=$work/buildah/task-root BUILDAH_RUNROOT=$work/buildah/task-run \
    scripts/build-image.sh --binary "$LANE_BIN" --tag localhost/lane:e2e \
    --push "$registry/lane/lane:e2e" --tls-verify false 2> "$work/build-image.log") \
    || { cat "$work/build-image.log" >&2; die "building the task image failed"; }
  task_image="$registry/lane/lane@$(json <(printf '%s' "$img") "d['digest']")"
  info "task image $task_image"
  # What runs on the cluster is what `lane generate` writes: the task image, the cluster's own
  # buildah image and its plain-HTTP registry are generation-time choices (a run the trigger
  # starts carries only the Pipeline's defaults).
  lane generate --deploy "$src/deploy/deploy.json" --out "$gen" --task-image "$task_image" \
    --buildah-image "$LANE_CLUSTER_BUILDAH_IMAGE" --allow-insecure-registry > /dev/null
  ci=$(json "$work/run-1/validate.json" "d['names']['tektonNamespace']")
  local prefix=agentrun-v01
  webhook_secret=$(openssl rand -hex 24)
  # Kept (owner-only) for whoever drives more webhooks (benches/webhook_release.rs).
  (umask 077; printf '%s' "$webhook_secret" > "$work/webhook-secret")
  # git:// remotes need no key; the Pipeline still mounts the ssh-directory Secret.
  kc -n "$ci" create secret generic "$prefix-git-ssh" --from-literal=known_hosts='' \
    --dry-run=client -o yaml | kc apply -f - > /dev/null
  kc -n "$ci" create secret generic "$prefix-github-webhook" --from-literal=secretToken="$webhook_secret" \
    --dry-run=client -o yaml | kc apply -f - > /dev/null
  kc apply -f "$gen/pipelines/namespace.yaml" > /dev/null
  kc auth reconcile -f "$gen/pipelines/rbac.yaml" > /dev/null
  kc apply -f "$gen/pipelines/rbac.yaml" -f "$gen/tasks/" -f "$gen/pipelines/pipeline.yaml" \
    -f "$gen/pipelines/triggers.yaml" -f "$gen/pipelines/prune.yaml" > /dev/null
  kc -n "$ci" wait --for=condition=Available "deployment/el-$prefix-github" --timeout=180s > /dev/null \
    || die "the EventListener el-$prefix-github did not become available"
  info "applied tasks/, pipelines/ (Pipeline, Triggers, RBAC, Namespace, pruner CronJob) in $ci; EventListener el-$prefix-github ready"
  took
}

# webhook_run N COMMIT BEFORE: the push of COMMIT as GitHub delivers it, signed with the
# webhook Secret, posted to the EventListener's Service; then the PipelineRun it starts.
webhook_run() {
  local n=$1 commit=$2 before=$3 run=$work/run-$1
  mkdir -p "$run/results" "$run/publish"
  ci_bootstrap
  # What the run will decide, previewed here from the same inputs (lane plan writes nothing);
  # after the run, its images resolved from the registry the way the run's publish did.
  git clone -q --no-checkout "$remote" "$run/src"
  git -C "$run/src" checkout -q --detach "$commit"
  lane plan --repo "$run/src" --commit "$commit" --gitops-remote "$remote" --out "$run/plan.json" \
    --result-affected "$run/results/affected" --result-counts "$run/results/counts" \
    --result-commit "$run/results/commit" > /dev/null
  info "plan: $(json "$run/plan.json" "', '.join(s['id'] + '=' + s['decision'] for s in d['services'])") (the run's inputs, previewed)"
  local ci=agentrun-ci pr="agentrun-v01-ci-${commit:0:12}" ip port body sig code
  say "run $n: a signed push webhook to the EventListener starts PipelineRun $pr"
  ip=$(kc -n "$ci" get service el-agentrun-v01-github -o jsonpath='{.spec.clusterIP}')
  port=$(kc -n "$ci" get service el-agentrun-v01-github -o jsonpath='{.spec.ports[0].port}')
  body=$(python3 -c 'import json,sys; print(json.dumps({"ref": "refs/heads/v0.1", "before": sys.argv[1], "after": sys.argv[2], "created": False, "deleted": False, "forced": False, "repository": {"full_name": "agentrun/agentrun", "name": "agentrun", "ssh_url": sys.argv[3], "clone_url": sys.argv[3]}, "pusher": {"name": "e2e"}, "head_commit": {"id": sys.argv[2]}}, separators=(",", ":")))' "$before" "$commit" "$remote")
  sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$webhook_secret" | awk '{print $NF}')
  local t0=$SECONDS
  # A just-started EventListener may not be reachable through its Service yet: retry the
  # connection (never a delivery the listener answered).
  local i
  for i in $(seq 60); do
    code=$(curl -s -o "$run/el-answer.json" -w '%{http_code}' --max-time 30 \
      -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: e2e-$commit" \
      -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" "http://$ip:$port/") && break
    code=000
    sleep 1
  done
  info "EventListener $ip:$port answered HTTP $code"
  [[ $code == 202 || $code == 201 || $code == 200 ]] || die "the EventListener refused the signed webhook (HTTP $code)"
  local status=""
  while ((SECONDS - t0 < 900)); do
    status=$(kc -n "$ci" get pipelinerun "$pr" -o jsonpath='{.status.conditions[0].status}' 2>/dev/null || true)
    [[ $status == True || $status == False ]] && break
    sleep 2
  done
  kc -n "$ci" get pipelinerun "$pr" -o json > "$run/pipelinerun.json"
  kc -n "$ci" get taskruns -l "tekton.dev/pipelineRun=$pr" -o json > "$run/taskruns.json"
  python3 - "$run/pipelinerun.json" "$run/taskruns.json" <<'PY'
import json, sys
from datetime import datetime
f = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
secs = lambda st: int((f(st["completionTime"]) - f(st["startTime"])).total_seconds()) if st.get("completionTime") and st.get("startTime") else -1
run = json.load(open(sys.argv[1]))
trs = sorted(json.load(open(sys.argv[2]))["items"], key=lambda t: t["status"].get("startTime", ""))
for t in trs:
    st = t["status"]
    task = t["metadata"]["labels"].get("tekton.dev/pipelineTask", "?")
    extra = ""
    res = {r["name"]: r["value"] for r in st.get("results", [])}
    if "IMAGE_URL" in res:
        extra = f"  {res['IMAGE_URL'].rsplit(':', 1)[0]}@{res.get('IMAGE_DIGEST', '')[:19]}"
    print(f"   TaskRun {task:16} {st['conditions'][0]['reason']:10} {secs(st):4d} s{extra}")
c = run["status"]["conditions"][0]
res = {r["name"]: r["value"] for r in run["status"].get("results", [])}
print(f"   PipelineRun {run['metadata']['name']}: {c['reason']} in {secs(run['status'])} s; promotion {res.get('promotion')}, counts {res.get('counts')}")
PY
  info "webhook → PipelineRun finished: $((SECONDS - t0)) s"
  if [[ $status != True ]]; then
    local tr pod
    for tr in $(kc -n "$ci" get taskruns -l "tekton.dev/pipelineRun=$pr" -o jsonpath='{range .items[?(@.status.conditions[0].status=="False")]}{.metadata.name}{" "}{end}'); do
      pod=$(kc -n "$ci" get taskrun "$tr" -o jsonpath='{.status.podName}')
      echo "--- $tr (pod $pod) ---" >&2
      kc -n "$ci" logs "$pod" --all-containers --tail=40 >&2 || true
    done
    die "run $n: PipelineRun $pr did not succeed; see $run/pipelinerun.json"
  fi
  # The run's results in the shape of a direct run's (for the summary).
  lane publish --plan "$run/plan.json" --deploy "$run/src/deploy/deploy.json" --allow-insecure \
    --out "$run/publish/publish.json" > /dev/null
  json "$run/pipelinerun.json" "[r['value'] for r in d['status']['results'] if r['name'] == 'promotion'][0]" > "$run/results/outcome"
  json "$run/pipelinerun.json" "[r['value'] for r in d['status']['results'] if r['name'] == 'gitops-commit'][0]" > "$run/results/gitops-commit"
  echo "$((SECONDS - t0))" > "$run/webhook-seconds"
  took
  cd_half "$n" "$commit" "$pr"
  info "webhook → verified: $((SECONDS - t0)) s"
  echo "$((SECONDS - t0))" > "$run/webhook-verified-seconds"
}

c1=$(git -C "$src" rev-parse HEAD)
run_pipeline 1 "$c1" yes

say "changing one service (agentrun-mgr) on v0.1"
printf '\n// e2e run 2: a change to the manager only.\nexport const E2E_BUILD = 2;\n' >> "$src/apps/mgr/src/app.ts"
git -C "$src" commit -q -am "mgr: change"
git -C "$src" push -q origin v0.1
c2=$(git -C "$src" rev-parse HEAD)
if ((use_cluster)); then
  webhook_run 2 "$c2" "$c1"
else
  run_pipeline 2 "$c2" no
fi

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
    r = {"commit": c}
    if os.path.exists(f"{w}/run-{n}/pipelinerun.json"):
        pr = json.load(open(f"{w}/run-{n}/pipelinerun.json"))
        res = {x["name"]: x["value"] for x in pr["status"].get("results", [])}
        r["pipelineRun"] = pr["metadata"]["name"]
        r["counts"] = json.loads(res.get("counts", "{}"))
        r["images"] = res.get("IMAGES", "").split()
        r["webhookToVerifiedSeconds"] = int(open(f"{w}/run-{n}/webhook-verified-seconds").read())
    else:
        r["verify"] = json.load(open(f"{w}/run-{n}/verify.json"))["ok"]
    plan = json.load(open(f"{w}/run-{n}/plan.json"))
    r["decisions"] = {s["id"]: s["decision"] for s in plan["services"]}
    runs.append(r)
    r.update({
        "outcome": open(f"{w}/run-{n}/results/outcome").read().strip(),
        "gitopsCommit": open(f"{w}/run-{n}/results/gitops-commit").read().strip(),
        "verifyLive": json.load(open(f"{w}/run-{n}/verify-live.json"))["ok"] if os.path.exists(f"{w}/run-{n}/verify-live.json") else None,
    })
print(json.dumps({"workdir": w, "remote": remote, "source": f"{w}/source", "gitopsCheckout": f"{w}/gitops-checkout", "runs": runs}, indent=2))
PY
info "summary: $work/summary.json"
say "done"
