#!/usr/bin/env bash
# One real release through the shipped Tekton Pipeline on the project's cluster
# (scripts/cluster.sh + scripts/cluster-tekton.sh): a lane `tkrun` v0.1 (the shipped deploy.json
# with its names changed so it never meets another test's objects) whose source and GitOps
# branches are served by a git daemon on the node address, images in the cluster registry.
# Tasks, Pipeline, Triggers, RBAC and the Argo CD AppProject/Application are applied as
# `lane generate --task-image` writes them; a PipelineRun then runs prepare-source → validate
# → plan → build-publish (buildah in a pod, pushing to the cluster registry) → publish →
# promote → verify. Nothing names a public image: the run passes the local buildah image.
#
# usage: cluster/tekton/pipeline-run.sh [--keep]   (LANE_BIN: the lane binary for the image)
#   LANE_TEKTON_PROJECT=tkrun   the lane's project name (namespaces <project>-v01, <project>-ci)
#   LANE_TEKTON_SERVICES=2      buildable services (more than 2: copies of mgr, tiny requests)
#   LANE_TEKTON_MAX_MATRIX=N    `lane generate --max-matrix N` (the cluster's matrix cap)
#   LANE_TEKTON_WEBHOOK=0       only the first (manual, init) run
#   LANE_TEKTON_CLUSTER_MATRIX_CAP=N  set Tekton's config-defaults
#                               default-max-matrix-combinations-count to N for this run (restored)
# Prints one JSON line on stdout: the run's outcome and each TaskRun's status and seconds.
# Cleans up (namespaces, Argo CD objects, git daemon) unless --keep.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
keep=0
[[ ${1:-} == --keep ]] && keep=1
eval "$("$ROOT/scripts/cluster.sh" env)"
eval "$("$ROOT/scripts/cluster-tekton.sh" env)"
kc() { "$LANE_CLUSTER_BIN/kubectl" --kubeconfig "$LANE_CLUSTER_KUBECONFIG" "$@"; }
say() { echo "pipeline-run: $*" >&2; }
LANE_BIN=${LANE_BIN:-$ROOT/target/debug/lane}
REG=$LANE_CLUSTER_REGISTRY
NODE=$LANE_CLUSTER_NODE_IP
ARGO=$LANE_CLUSTER_ARGOCD_NAMESPACE
work=$(mktemp -d /tmp/lane-tekton-run.XXXXXX)
PROJECT=${LANE_TEKTON_PROJECT:-tkrun}
SERVICES=${LANE_TEKTON_SERVICES:-2}
[[ $PROJECT =~ ^[a-z][a-z0-9]{1,15}$ && $SERVICES =~ ^[0-9]{1,2}$ ]] || { echo "pipeline-run: bad LANE_TEKTON_PROJECT or LANE_TEKTON_SERVICES" >&2; exit 2; }
T0=$SECONDS

gpid=""
NS="" CI="" APP="" PROJ=""
cap_before=""
cleanup() {
  [[ -n $gpid ]] && kill "$gpid" 2>/dev/null || true
  if [[ -n ${LANE_TEKTON_CLUSTER_MATRIX_CAP:-} ]]; then
    if [[ -n $cap_before ]]; then
      kc -n tekton-pipelines patch configmap config-defaults --type merge \
        -p "{\"data\":{\"default-max-matrix-combinations-count\":\"$cap_before\"}}" >/dev/null || true
    else
      kc -n tekton-pipelines patch configmap config-defaults --type json \
        -p '[{"op":"remove","path":"/data/default-max-matrix-combinations-count"}]' >/dev/null 2>&1 || true
    fi
    say "restored Tekton's matrix cap (${cap_before:-default})"
  fi
  if ((!keep)) && [[ -n $NS ]]; then
    kc -n "$ARGO" delete application "$APP" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    kc -n "$ARGO" delete appproject "$PROJ" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    kc delete namespace "$NS" "$CI" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    kc delete clusterrole,clusterrolebinding -l "lane.dev/lane=v0.1,app.kubernetes.io/part-of=$PROJECT" --ignore-not-found >/dev/null 2>&1 || true
    [[ -n ${PSA_NS:-} ]] && kc delete namespace "$PSA_NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    rm -rf -- "$work"
  elif ((keep)); then
    say "kept: $work (namespaces $NS $CI)"
  fi
}
trap cleanup EXIT

# --- Tekton's matrix cap, lowered for this run (a large lane with a small cap) ---------------
if [[ -n ${LANE_TEKTON_CLUSTER_MATRIX_CAP:-} ]]; then
  [[ $LANE_TEKTON_CLUSTER_MATRIX_CAP =~ ^[1-9][0-9]{0,3}$ ]] || { say "bad LANE_TEKTON_CLUSTER_MATRIX_CAP"; exit 2; }
  cap_before=$(kc -n tekton-pipelines get configmap config-defaults -o jsonpath='{.data.default-max-matrix-combinations-count}')
  kc -n tekton-pipelines patch configmap config-defaults --type merge \
    -p "{\"data\":{\"default-max-matrix-combinations-count\":\"$LANE_TEKTON_CLUSTER_MATRIX_CAP\"}}" >/dev/null
  say "Tekton's matrix cap is $LANE_TEKTON_CLUSTER_MATRIX_CAP for this run (was ${cap_before:-the default 256})"
fi

# --- git daemon on the node address (pods reach 10.87.0.1, never 127.0.0.1) ---------------
mkdir -p "$work/git"
git init -q --bare -b v0.1 "$work/git/source.git"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("'"$NODE"'", 0)); print(s.getsockname()[1])')
git daemon --reuseaddr --base-path="$work/git" --export-all --enable=receive-pack \
  --listen="$NODE" --port="$port" >"$work/git/daemon.log" 2>&1 &
gpid=$!
remote="git://$NODE:$port/source.git"
for _ in $(seq 50); do git ls-remote "$remote" >/dev/null 2>&1 && break; sleep 0.1; done

# --- the lane's source: deploy.json and two services (busybox httpd on /health, non-root) --
src=$work/source
git init -q -b v0.1 "$src"
git -C "$src" config user.name "Lane Tekton"
git -C "$src" config user.email "tekton@lane.invalid"
mkdir -p "$src/deploy"
python3 - "$ROOT/deploy/deploy.json" "$src/deploy/deploy.json" "$REG" "$remote" "$NODE" "$LANE_CLUSTER_SERVICE_CIDR" "$PROJECT" "$SERVICES" <<'PY'
import copy, json, sys
p = sys.argv[7]
text = open(sys.argv[1]).read().replace("agentrun", p).replace("AGENTRUN", p.upper())
d = json.loads(text)
n = int(sys.argv[8])
if n > 2:
    # A large lane: copies of mgr (no volumes, its own build context), every service with
    # tiny requests so that all fit the one node.
    mgr = d["services"][0]
    for i in range(3, n + 1):
        s = copy.deepcopy(mgr)
        s["id"] = f"{p}-s{i}"
        s["build"] = {"context": f"apps/s{i}", "dockerfile": f"apps/s{i}/Dockerfile"}
        s.pop("volumes", None)
        s.pop("serviceAccount", None)
        d["services"].append(s)
    for s in d["services"]:
        s["resources"] = {"requests": {"cpu": "5m", "memory": "8Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
d["lane"]["registry"]["host"] = sys.argv[3]
d["lane"]["sourceRepo"] = sys.argv[4]
# The lane's proxy is for the outside world only: the node (git, registry) and the service
# range (the in-cluster API server, 10.96.0.1) are reached directly.
d["lane"]["proxy"]["noProxy"] += [sys.argv[5], sys.argv[6]]
json.dump(d, open(sys.argv[2], "w"), indent=2)
open(sys.argv[2], "a").write("\n")
PY
svcs="mgr runner"
for ((i = 3; i <= SERVICES; i++)); do svcs="$svcs s$i"; done
for svc in $svcs; do
  mkdir -p "$src/apps/$svc/www"
  printf 'ok %s\n' "$svc" >"$src/apps/$svc/www/health"
  cat >"$src/apps/$svc/Dockerfile" <<DF
FROM $LANE_CLUSTER_BUSYBOX_IMAGE
COPY www /www
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
DF
done
printf '# %s (Tekton on the real cluster)\n' "$PROJECT" >"$src/README.md"
git -C "$src" add -A
git -C "$src" commit -q -m "tkrun v0.1 source"
git -C "$src" remote add origin "$remote"
git -C "$src" push -q origin v0.1
commit=$(git -C "$src" rev-parse HEAD)
say "source $remote at $commit"

names=$("$LANE_BIN" validate "$src/deploy/deploy.json")
name() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["names"][sys.argv[2]])' "$names" "$1"; }
NS=$(name namespace) CI=$(name tektonNamespace) APP=$(name argoApplication) PROJ=$(name argoProject)
PIPELINE=$(name pipeline) SA=$(name tektonServiceAccount) PREFIX=$(name pipelineRunPrefix)

# --- the lane task image, in the cluster registry by digest --------------------------------
t=$SECONDS
img=$(BUILDAH_ROOT=$work/buildah/root BUILDAH_RUNROOT=$work/buildah/run \
  "$ROOT/scripts/build-image.sh" --binary "$LANE_BIN" --tag localhost/lane:tekton-run \
  --push "$REG/lane/lane:tekton-run" --tls-verify false 2>"$work/build-image.log") \
  || { cat "$work/build-image.log" >&2; exit 1; }
lane_image="$REG/lane/lane@$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["digest"])' "$img")"
rm -rf -- "$work/buildah"
say "task image $lane_image ($((SECONDS - t))s)"

# --- apply what lane generates -------------------------------------------------------------
gen=$work/generated
# The cluster's own images and its plain-HTTP registry are generation-time choices, so runs
# the trigger starts get them too.
"$LANE_BIN" generate --deploy "$src/deploy/deploy.json" --out "$gen" --task-image "$lane_image" \
  --buildah-image "$LANE_CLUSTER_BUILDAH_IMAGE" --allow-insecure-registry \
  ${LANE_TEKTON_MAX_MATRIX:+--max-matrix "$LANE_TEKTON_MAX_MATRIX"} >/dev/null
# A previous run's namespaces may still be terminating.
kc wait --for=delete "namespace/$NS" "namespace/$CI" --timeout=180s >/dev/null 2>&1 || true
kc create namespace "$NS" --dry-run=client -o yaml | kc apply -f - >/dev/null
# The CI namespace as generated: Pod Security enforced at the level the build step needs.
kc apply -f "$gen/pipelines/namespace.yaml" >/dev/null
secret() { kc -n "$1" create secret generic "$2" "${@:3}" --dry-run=client -o yaml | kc apply -f - >/dev/null; }
secret "$NS" "$PROJECT-v01-postgres" --from-literal=DATABASE_URL="postgres://$PROJECT@postgres.$NS.svc:5432/${PROJECT}_v01"
secret "$NS" "$PROJECT-v01-codex" --from-literal=auth.json='{}' --from-literal=config.toml=''
# git:// remotes need no key; the workspace Secret still exists, as the Pipeline requires it.
secret "$CI" "$PROJECT-v01-git-ssh" --from-literal=known_hosts=''
secret "$CI" "$PROJECT-v01-github-webhook" --from-literal=secretToken="${LANE_TEKTON_WEBHOOK_SECRET:-lane-webhook-secret}"
kc apply -f "$gen/gitops/appproject.yaml" -f "$gen/gitops/application.yaml" >/dev/null
kc apply -f "$gen/pipelines/rbac.yaml" >/dev/null
kc apply -f "$gen/tasks/" -f "$gen/pipelines/pipeline.yaml" -f "$gen/pipelines/triggers.yaml" >/dev/null
say "applied tasks/, pipelines/ (Pipeline $PIPELINE, Triggers, RBAC) and gitops/ ($ARGO/$APP)"

# --- the PipelineRun: the generated example's spec with this commit and the local images ---
pr="${PREFIX}${commit:0:12}"
# manual_run NAME COMMIT INIT: the example's spec, named, for COMMIT.
manual_run() {
kc create --dry-run=client -o json -f "$gen/pipelines/pipelinerun-example.yaml" >"$work/example.json"
python3 - "$work/example.json" "$1" "$2" "$3" "${4:-}" >"$work/pipelinerun-$1.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
_, _, name, commit, init, pending = sys.argv
if pending:
    # Created, never started: a run that has not finished (the pruner must leave it).
    doc["spec"]["status"] = "PipelineRunPending"
doc["metadata"].pop("generateName")
doc["metadata"]["name"] = name
params = {p["name"]: p["value"] for p in doc["spec"]["params"]}
params.update({"revision": commit, "init": init, "verify-wait": "5m"})
doc["spec"]["params"] = [{"name": k, "value": v} for k, v in params.items()]
# The pod network (routes only to pods, services and the node): not the node's own network.
pt = doc["spec"]["taskRunTemplate"]["podTemplate"]
pt.pop("hostNetwork", None)
pt.pop("dnsPolicy", None)
print(json.dumps(doc))
PY
kc create -f "$work/pipelinerun-$1.json" >/dev/null
}
if ((${LANE_TEKTON_WEBHOOK:-1})); then
  # The oldest run of all, and never finished: `lane prune` must keep it.
  manual_run "${PREFIX}pending" "$commit" false pending
  say "PipelineRun $CI/${PREFIX}pending created (pending: never started)"
fi
manual_run "$pr" "$commit" true
say "PipelineRun $CI/$pr created (manual, init)"

# wait_run NAME LABEL: waits for the run, prints its TaskRuns, appends its JSON to runs.jsonl.
wait_run() {
  local pr=$1 label=$2 t=$SECONDS status=Unknown reason
  while ((SECONDS - t < ${LANE_TEKTON_RUN_TIMEOUT:-900})); do
    status=$(kc -n "$CI" get pipelinerun "$pr" -o jsonpath='{.status.conditions[0].status}' 2>/dev/null || true)
    [[ $status == True || $status == False ]] && break
    sleep 2
  done
  reason=$(kc -n "$CI" get pipelinerun "$pr" -o jsonpath='{.status.conditions[0].reason}: {.status.conditions[0].message}')
  say "PipelineRun $pr ($label): $status $reason ($((SECONDS - t))s)"
  kc -n "$CI" get taskruns -l "tekton.dev/pipelineRun=$pr" -o json >"$work/taskruns-$pr.json"
  kc -n "$CI" get pipelinerun "$pr" -o json >"$work/pipelinerun-$pr.json"
  kc -n "$NS" get pods -o json >"$work/pods-$pr.json"
  kc -n "$CI" get pods -l "tekton.dev/pipelineRun=$pr" -o json >"$work/taskpods-$pr.json"
  python3 - "$work/taskruns-$pr.json" "$work/pipelinerun-$pr.json" "$work/pods-$pr.json" "$label" "$work/taskpods-$pr.json" <<'PY' >>"$work/runs.jsonl"
import json, sys
from datetime import datetime
f = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
secs = lambda st: (f(st["completionTime"]) - f(st["startTime"])).seconds if st.get("completionTime") else None
trs = sorted(json.load(open(sys.argv[1]))["items"], key=lambda t: t["status"].get("startTime", ""))
run = json.load(open(sys.argv[2]))
pods = json.load(open(sys.argv[3]))["items"]
c = run["status"]["conditions"][0]
out = {"label": sys.argv[4], "pipelineRun": run["metadata"]["name"], "succeeded": c["status"] == "True",
       "reason": c["reason"] + ": " + c.get("message", ""), "seconds": secs(run["status"]),
       "params": {p["name"]: p["value"] for p in run["spec"].get("params", [])},
       "hostNetwork": run["spec"].get("taskRunTemplate", {}).get("podTemplate", {}).get("hostNetwork", False),
       "results": {r["name"]: r["value"] for r in run["status"].get("results", [])},
       "taskRuns": [], "pods": []}
for tr in trs:
    st = tr["status"]
    out["taskRuns"].append({"task": tr["metadata"]["labels"].get("tekton.dev/pipelineTask"),
                            "reason": st["conditions"][0]["reason"], "seconds": secs(st),
                            "results": {r["name"]: r["value"] for r in st.get("results", [])}})
    print(f"  {out['taskRuns'][-1]['task']:14} {out['taskRuns'][-1]['reason']:10} {secs(st)}s", file=sys.stderr)
for p in pods:
    if p["status"].get("phase") == "Running":
        out["pods"].append({"name": p["metadata"]["name"],
                            "imageIDs": [c.get("imageID", "") for c in p["status"].get("containerStatuses", [])]})
# Every image the run's pods named (steps, init containers, sidecars): none may be public.
out["images"] = sorted({c["image"] for p in json.load(open(sys.argv[5]))["items"]
                        for c in p["spec"].get("initContainers", []) + p["spec"]["containers"]})
print(json.dumps(out))
PY
  if [[ $status == True && ${VERIFY_OUTSIDE:-1} == 1 ]]; then
    # From outside the run, every group (tekton included: this run has finished), with the
    # token of the identity pipelines/rbac.yaml ships.
    kc -n "$CI" create token "$SA" --duration=1h >"$work/token"
    local vrc=0
    "$LANE_BIN" verify --repo "$src" --commit "$(git -C "$src" rev-parse HEAD)" --gitops-remote "$remote" \
      --pipeline-run "$pr" --api-server "$LANE_CLUSTER_API_SERVER" --ca-file "$LANE_CLUSTER_CA_FILE" \
      --token-file "$work/token" --wait 120 >"$work/verify-$pr.json" 2>"$work/verify-$pr.log" || vrc=$?
    python3 - "$work/verify-$pr.json" "$vrc" <<'PY' >"$work/verify-$pr.summary"
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    d = {"error": str(e)}
checks = d.get("checks", [])
print(json.dumps({"exit": int(sys.argv[2]), "groups": d.get("groups"),
                  "status": {c["id"]: c["status"] for c in checks},
                  "failed": [c["id"] + ": " + c.get("message", "") for c in checks if c["status"] == "fail"],
                  "error": d.get("error")}))
PY
    say "lane verify (all groups, outside the run): exit $vrc $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(v=="pass" for v in d["status"].values()), "passed", d["failed"] or "")' "$work/verify-$pr.summary")"
    python3 -c 'import json,sys; lines=open(sys.argv[1]).read().splitlines(); d=json.loads(lines[-1]); d["verify"]=json.load(open(sys.argv[2])); lines[-1]=json.dumps(d); open(sys.argv[1],"w").write("\n".join(lines)+"\n")' "$work/runs.jsonl" "$work/verify-$pr.summary"
  fi
  if [[ $status != True ]]; then
    local tr pod
    for tr in $(kc -n "$CI" get taskruns -l "tekton.dev/pipelineRun=$pr" -o jsonpath='{range .items[?(@.status.conditions[0].status=="False")]}{.metadata.name}{" "}{end}'); do
      pod=$(kc -n "$CI" get taskrun "$tr" -o jsonpath='{.status.podName}')
      say "--- $tr (pod $pod) ---"
      kc -n "$CI" logs "$pod" --all-containers --tail=40 >&2 2>&1 || true
    done
    return 1
  fi
}
finish() {
  python3 -c 'import json,sys,os; print(json.dumps({"commit": sys.argv[2], "seconds": int(sys.argv[3]), "remote": sys.argv[5], "runs": [json.loads(l) for l in open(sys.argv[1])], "webhook": json.load(open(sys.argv[4])) if sys.argv[4] else None, "podSecurity": json.load(open(sys.argv[6])) if os.path.exists(sys.argv[6]) else None}))' \
    "$work/runs.jsonl" "$commit" "$((SECONDS - T0))" "${1:-}" "$remote" "$work/pod-security.json"
}
# Pod Security: the CI namespace (as generated) admits the very pod Tekton made for the build
# step; a namespace that enforces `baseline` refuses it (server-side dry runs, nothing created).
psa_check() {
  local pod sa
  pod=$(kc -n "$CI" get pods -l "tekton.dev/pipelineRun=$pr,tekton.dev/pipelineTask=build-publish" -o name | head -n1)
  [[ -n $pod ]] || { say "no build-publish pod of $pr"; return 1; }
  kc -n "$CI" get "$pod" -o json >"$work/build-pod.json"
  sa=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"].get("serviceAccountName", "default"))' "$work/build-pod.json")
  PSA_NS="$PROJECT-psa-baseline"
  kc create namespace "$PSA_NS" --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc label namespace "$PSA_NS" --overwrite pod-security.kubernetes.io/enforce=baseline >/dev/null
  kc -n "$PSA_NS" create serviceaccount "$sa" --dry-run=client -o yaml | kc apply -f - >/dev/null
  local ns out rc
  for ns in "$CI" "$PSA_NS"; do
    python3 - "$work/build-pod.json" "$ns" >"$work/pod-$ns.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
m = p["metadata"]
p["metadata"] = {"name": m["name"] + "-psa", "namespace": sys.argv[2], "labels": {"lane.dev/psa-check": "true"}}
p.pop("status", None)
p["spec"].pop("nodeName", None)
print(json.dumps(p))
PY
    rc=0
    out=$(kc create --dry-run=server -f "$work/pod-$ns.json" -o name 2>&1) || rc=$?
    printf '%s\n' "$out" >"$work/psa-$ns.out"
    echo "$rc" >"$work/psa-$ns.rc"
  done
  python3 - "$CI" "$PSA_NS" "$work" >"$work/pod-security.json" <<'PY'
import json, subprocess, sys
ci, base, w = sys.argv[1:]
r = lambda ns: {"exit": int(open(f"{w}/psa-{ns}.rc").read()), "output": open(f"{w}/psa-{ns}.out").read().strip()}
print(json.dumps({"ciNamespace": ci, "ci": r(ci), "baselineNamespace": base, "baseline": r(base)}))
PY
  kc get namespace "$CI" -o json | python3 -c 'import json,sys; l=json.load(sys.stdin)["metadata"]["labels"]; d=json.load(open(sys.argv[1])); d["ciLabels"]={k: v for k, v in l.items() if k.startswith("pod-security")}; json.dump(d, open(sys.argv[1], "w"))' "$work/pod-security.json"
  say "Pod Security: build pod in $CI → exit $(cat "$work/psa-$CI.rc"); in $PSA_NS (baseline) → exit $(cat "$work/psa-$PSA_NS.rc")"
}
: >"$work/runs.jsonl"
wait_run "$pr" manual-init || { finish; exit 1; }
psa_check || true
((${LANE_TEKTON_WEBHOOK:-1})) || { finish; exit 0; }

# --- run 2: a GitHub-signed push webhook to the in-cluster EventListener -------------------
# One service changes; the trigger's run (as generated: the TriggerTemplate's spec) rebuilds
# it and reuses the other. A bad signature, another branch and a redelivery start nothing.
secret=${LANE_TEKTON_WEBHOOK_SECRET:-lane-webhook-secret}
el=$(kc -n "$CI" get eventlistener "$(name project)-$(name short)-github" -o jsonpath='{.status.address.url}')
svc_ip=$(kc -n "$CI" get service "el-$(name project)-$(name short)-github" -o jsonpath='{.spec.clusterIP}')
svc_port=$(kc -n "$CI" get service "el-$(name project)-$(name short)-github" -o jsonpath='{.spec.ports[0].port}')
say "EventListener $el ($svc_ip:$svc_port)"
printf 'ok mgr, run 2\n' >"$src/apps/mgr/www/health"
git -C "$src" commit -q -am "mgr: run 2"
git -C "$src" push -q origin v0.1
commit2=$(git -C "$src" rev-parse HEAD)
# payload BRANCH AFTER: a GitHub push event's body (the fields the trigger reads).
payload() {
  python3 -c 'import json,sys; print(json.dumps({"ref": "refs/heads/" + sys.argv[1], "before": sys.argv[2], "after": sys.argv[3], "created": False, "deleted": False, "forced": False, "repository": {"full_name": "lane/source", "name": "source", "ssh_url": sys.argv[4], "clone_url": sys.argv[4]}, "pusher": {"name": "lane"}, "head_commit": {"id": sys.argv[3]}}, separators=(",", ":")))' "$1" "$commit" "$2" "$remote"
}
# post BODY SECRET DELIVERY: HTTP status of the EventListener's answer.
post() {
  local sig
  sig=$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$2" | awk '{print $NF}')
  curl -s -o "$work/el-answer.json" -w '%{http_code}' --max-time 30 \
    -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $3" \
    -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$1" "http://$svc_ip:$svc_port/"
}
count_runs() { kc -n "$CI" get pipelineruns -o name | wc -l; }
before=$(count_runs)
code_bad=$(post "$(payload v0.1 "$commit2")" "not-the-secret" d-bad)
code_other=$(post "$(payload other-branch "$commit2")" "$secret" d-other)
sleep 5
after_negative=$(count_runs)
say "bad signature → HTTP $code_bad, other branch → HTTP $code_other; PipelineRuns $before → $after_negative"
code_good=$(post "$(payload v0.1 "$commit2")" "$secret" d-good)
pr2="${PREFIX}${commit2:0:12}"
for _ in $(seq 60); do kc -n "$CI" get pipelinerun "$pr2" >/dev/null 2>&1 && break; sleep 1; done
code_again=$(post "$(payload v0.1 "$commit2")" "$secret" d-good)
sleep 3
say "signed push → HTTP $code_good, PipelineRun $pr2; redelivered → HTTP $code_again"
python3 -c 'import json,sys; a=sys.argv; print(json.dumps({"badSignatureStatus": int(a[1]), "otherBranchStatus": int(a[2]), "runsBefore": int(a[3]), "runsAfterNegatives": int(a[4]), "signedStatus": int(a[5]), "redeliveryStatus": int(a[6]), "pipelineRun": a[7], "commit": a[8]}))' \
  "$code_bad" "$code_other" "$before" "$after_negative" "$code_good" "$code_again" "$pr2" "$commit2" >"$work/webhook.json"
rc=0
wait_run "$pr2" webhook || rc=1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["runsAfterAll"]=int(sys.argv[2]); json.dump(d, open(sys.argv[1], "w"))' "$work/webhook.json" "$(count_runs)"

# --- run 3: a late run of the older commit (a re-run by hand) ------------------------------
# promote keeps the newer release (superseded), verify is skipped, the run succeeds and the
# live Deployment stays on run 2's image.
if ((rc == 0)); then
  pr3="${PREFIX}${commit:0:12}-late"
  gitops_before=$(git ls-remote "$remote" "refs/heads/$(name gitopsBranch)" | cut -f1)
  manual_run "$pr3" "$commit" false
  say "PipelineRun $CI/$pr3 created (manual, the older commit $commit)"
  VERIFY_OUTSIDE=0 wait_run "$pr3" late-older || rc=1
  gitops_after=$(git ls-remote "$remote" "refs/heads/$(name gitopsBranch)" | cut -f1)
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["gitopsBeforeLate"]=sys.argv[2]; d["gitopsAfterLate"]=sys.argv[3]; json.dump(d, open(sys.argv[1], "w"))' "$work/webhook.json" "$gitops_before" "$gitops_after"
fi

# --- run 4: a commit whose deploy.json lane rejects: validate stops the run before any build -
if ((rc == 0)); then
  python3 - "$src/deploy/deploy.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["services"][0]["replicas"] = -1
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
  git -C "$src" commit -q -am "deploy: an invalid replica count"
  git -C "$src" push -q origin v0.1
  commit4=$(git -C "$src" rev-parse HEAD)
  pr4="${PREFIX}${commit4:0:12}"
  gitops_before=$(git ls-remote "$remote" "refs/heads/$(name gitopsBranch)" | cut -f1)
  manual_run "$pr4" "$commit4" false
  say "PipelineRun $CI/$pr4 created (manual, an invalid deploy.json; it must fail in validate)"
  VERIFY_OUTSIDE=0 wait_run "$pr4" invalid-deploy 2>"$work/invalid-run.log" || true
  gitops_after=$(git ls-remote "$remote" "refs/heads/$(name gitopsBranch)" | cut -f1)
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["gitopsBeforeInvalid"]=sys.argv[2]; d["gitopsAfterInvalid"]=sys.argv[3]; json.dump(d, open(sys.argv[1], "w"))' "$work/webhook.json" "$gitops_before" "$gitops_after"
fi
# --- pruning: the generated CronJob (lane prune in the task image) keeps the newest finished --
# runs; older runs go, and with them their per-run PVCs (owned by the run). The pending run
# stays. The Job is created from the CronJob, as its schedule would.
if ((rc == 0)); then
  snapshot() {
    kc -n "$CI" get pipelineruns -o json >"$work/prs-$1.json"
    kc -n "$CI" get pvc -o json >"$work/pvcs-$1.json"
  }
  snapshot before
  kc apply -f "$gen/pipelines/prune.yaml" >/dev/null
  cj="$(name project)-$(name short)-prune"
  kc -n "$CI" set env "cronjob/$cj" LANE_PRUNE_KEEP=2 >/dev/null
  kc -n "$CI" delete job prune-now --ignore-not-found >/dev/null
  kc -n "$CI" create job prune-now "--from=cronjob/$cj" >/dev/null
  t=$SECONDS
  kc -n "$CI" wait --for=condition=complete job/prune-now --timeout=180s >/dev/null || rc=1
  kc -n "$CI" logs job/prune-now >"$work/prune.out" 2>"$work/prune.err" || true
  # Garbage collection of the runs' dependents is asynchronous.
  for _ in $(seq 60); do
    snapshot after
    python3 - "$work" <<'PY' && break
import json, sys
w = sys.argv[1]
prs = {p["metadata"]["uid"] for p in json.load(open(f"{w}/prs-after.json"))["items"]}
owners = [o["uid"] for c in json.load(open(f"{w}/pvcs-after.json"))["items"] for o in c["metadata"].get("ownerReferences", [])]
sys.exit(0 if all(o in prs for o in owners) else 1)
PY
    sleep 2
  done
  say "prune Job ($((SECONDS - t))s): $(tr -d '\n' <"$work/prune.out" | head -c 600)"
  python3 - "$work" "$(kc -n "$CI" get pods -l job-name=prune-now -o jsonpath='{.items[0].spec.containers[0].image}')" <<'PY' >"$work/prune.json"
import json, sys
w, image = sys.argv[1:]
def runs(tag):
    pvcs = json.load(open(f"{w}/pvcs-{tag}.json"))["items"]
    out = {}
    for p in json.load(open(f"{w}/prs-{tag}.json"))["items"]:
        uid = p["metadata"]["uid"]
        out[p["metadata"]["name"]] = {
            "completionTime": p.get("status", {}).get("completionTime"),
            "pending": p["spec"].get("status") == "PipelineRunPending",
            "pvcs": [c["metadata"]["name"] for c in pvcs
                     if any(o["uid"] == uid for o in c["metadata"].get("ownerReferences", []))],
        }
    return out
try:
    # The Job's log is stdout and stderr merged in the order the kubelet read them, so lane's
    # progress lines (stderr, each starting "lane: ") can fall before, inside or after the
    # JSON document (stdout). lane writes whole lines, and no line of its pretty-printed
    # document starts with "lane: ": dropping those lines leaves the document.
    lines = open(f"{w}/prune.out").read().splitlines()
    doc = json.loads("\n".join(l for l in lines if not l.startswith("lane: ")))
except Exception as e:
    doc = {"error": str(e), "stderr": open(f"{w}/prune.err").read()[-2000:]}
pvc_names = lambda tag: sorted(c["metadata"]["name"] for c in json.load(open(f"{w}/pvcs-{tag}.json"))["items"])
print(json.dumps({"before": runs("before"), "after": runs("after"), "pvcsBefore": pvc_names("before"),
                  "pvcsAfter": pvc_names("after"), "report": doc, "image": image}))
PY
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["prune"]=json.load(open(sys.argv[2])); json.dump(d, open(sys.argv[1], "w"))' "$work/webhook.json" "$work/prune.json"
fi
finish "$work/webhook.json"
exit "$rc"
