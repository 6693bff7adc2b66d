#!/usr/bin/env bash
# Tekton Pipelines v1.15.0 and Tekton Triggers v0.37.0 on the running cluster of
# scripts/cluster.sh — built from their pinned Go modules (cluster/go/tekton), packed as
# one-layer images (each binary at /ko-app/NAME), pushed to the cluster registry by digest and
# installed from the modules' own config/ (and Triggers' config/interceptors/) with every
# ko:// reference replaced by those digests. Also the local buildah image for the lane's
# build-publish step (Debian's buildah, packed like scripts/build-image.sh packs the task
# image), so no step ever names a public image. See docs/tekton.md ("On the real cluster").
#
# usage: scripts/cluster-tekton.sh up | down | status | env | build | --help
#   up      build what the cache lacks, push the images, apply Tekton, wait until ready
#   down    delete everything `up` applied (CRDs, namespaces, cluster roles, webhooks)
#   status  one line per Tekton deployment (exit 3 if Tekton is not installed and ready)
#   env     `export LANE_CLUSTER_TEKTON_*=… LANE_CLUSTER_BUILDAH_IMAGE=…` lines
#   build   only build (or find in the cache) the binaries and image archives; pushes and
#           applies nothing, needs no cluster (a CI cache warm-up)
# Needs the cluster up (scripts/cluster.sh up), root (buildah vfs), Go at LANE_CLUSTER_GO.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LANE_CLUSTER_CACHE:-/var/cache/lane-cluster}
STATE=${LANE_CLUSTER_STATE:-/var/lib/lane-cluster}
RUN=/run/lane-cluster
GO=${LANE_CLUSTER_GO:-/usr/local/go/bin/go}
PIPELINE_VERSION=v1.15.0
TRIGGERS_VERSION=v0.37.0
MODDIR=$ROOT/cluster/go/tekton
TSTATE=$STATE/tekton
LDFLAGS="-s -w"
# name in the cache = package; the image of NAME holds /ko-app/<package's last element>.
BINARIES=(
  pipeline-controller=github.com/tektoncd/pipeline/cmd/controller
  pipeline-webhook=github.com/tektoncd/pipeline/cmd/webhook
  pipeline-entrypoint=github.com/tektoncd/pipeline/cmd/entrypoint
  pipeline-nop=github.com/tektoncd/pipeline/cmd/nop
  pipeline-workingdirinit=github.com/tektoncd/pipeline/cmd/workingdirinit
  pipeline-sidecarlogresults=github.com/tektoncd/pipeline/cmd/sidecarlogresults
  pipeline-events=github.com/tektoncd/pipeline/cmd/events
  triggers-controller=github.com/tektoncd/triggers/cmd/controller
  triggers-webhook=github.com/tektoncd/triggers/cmd/webhook
  triggers-eventlistenersink=github.com/tektoncd/triggers/cmd/eventlistenersink
  triggers-interceptors=github.com/tektoncd/triggers/cmd/interceptors
)

log() { echo "cluster-tekton: $*" >&2; }
die() { echo "cluster-tekton: $*" >&2; exit 1; }
usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
fail() {
  local what=$1 msg=$2 logf=${3:-}
  echo "cluster-tekton: FAILED: $what: $msg" >&2
  if [[ -n $logf && -f $logf ]]; then
    echo "cluster-tekton: --- last 40 lines of $logf ---" >&2
    tail -n 40 -- "$logf" >&2
  fi
  exit 1
}

PHASES=()
phase_t0=0
phase_name=""
phase() {
  phase_end
  phase_name=$1 phase_t0=$(date +%s.%N)
  log "phase $phase_name"
}
phase_end() {
  [[ -n $phase_name ]] || return 0
  PHASES+=("$(printf '%-16s %6ss' "$phase_name" "$(awk -v a="$phase_t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')")")
  phase_name=""
}

# The cluster's env (KUBECONFIG, registry, busybox image); exit 3 when it is not up.
cluster_env() {
  local e
  e=$("$ROOT/scripts/cluster.sh" env) || { echo "cluster-tekton: the cluster is not up (scripts/cluster.sh up)" >&2; exit 3; }
  eval "$e"
  REGISTRY=$LANE_CLUSTER_REGISTRY
}
kc() { "$LANE_CLUSTER_BIN/kubectl" --kubeconfig "$LANE_CLUSTER_KUBECONFIG" "$@"; }

# ---------------------------------------------------------------- builds (as scripts/cluster.sh)
GO_ENV=()
go_env() {
  mkdir -p -- "$CACHE/go/mod" "$CACHE/go/build"
  GO_ENV=(GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" CGO_ENABLED=0 GOTOOLCHAIN=local)
}
# The cache key: the module's go.mod, go.sum and *.go, the ldflags and `go version`.
go_key() {
  { cat -- "$MODDIR"/go.mod "$MODDIR"/go.sum "$MODDIR"/*.go; echo "$LDFLAGS"; "$GO" version; } | sha256sum | cut -c1-12
}
BINDIR=""
build_binaries() {
  [[ -x $GO ]] || die "no Go toolchain at $GO (set LANE_CLUSTER_GO)"
  go_env
  BINDIR=$CACHE/bin/tekton-$PIPELINE_VERSION-$TRIGGERS_VERSION-$(go_key)
  mkdir -p -- "$BINDIR" "$CACHE/logs"
  local spec name pkg t0 built=0
  for spec in "${BINARIES[@]}"; do
    name=${spec%%=*} pkg=${spec#*=}
    [[ -x $BINDIR/$name ]] && continue
    t0=$SECONDS
    log "building $name ($pkg)"
    (cd "$MODDIR" && env "${GO_ENV[@]}" "$GO" build -trimpath -buildvcs=false -ldflags "$LDFLAGS" \
      -o "$BINDIR/.$name.tmp" "$pkg") >"$CACHE/logs/build-tekton-$name.log" 2>&1 \
      || fail "build $name" "go build $pkg failed" "$CACHE/logs/build-tekton-$name.log"
    mv -f -- "$BINDIR/.$name.tmp" "$BINDIR/$name"
    log "built $name in $((SECONDS - t0))s"
    built=$((built + 1))
  done
  ((built)) || log "binaries from the cache: $BINDIR"
}
# The module's source directory (config/ lives there).
mod_dir() {
  env "${GO_ENV[@]}" "$GO" -C "$MODDIR" mod download "$1" >&2
  env "${GO_ENV[@]}" "$GO" -C "$MODDIR" list -m -f '{{.Dir}}' "$1"
}

# ---------------------------------------------------------------- images (cached OCI archives)
bah() { buildah --storage-driver vfs --root "$CACHE/buildah/root" --runroot "$RUN/buildah" "$@"; }

# image_archive NAME TAG POPULATE_FN INPUT... -- [buildah config args]: a one-layer image from
# scratch, cached by the inputs' content and the recipe; prints the archive path.
image_archive() {
  local name=$1 tag=$2 populate=$3
  shift 3
  local inputs=()
  while (($#)) && [[ $1 != -- ]]; do inputs+=("$1"); shift; done
  shift || true
  local key arc
  key=$( { printf '%s\n' "$name" "$tag" "$*" "$(declare -f "$populate")" tekton-recipe-1; sha256sum -- "${inputs[@]}"; } | sha256sum | cut -c1-12)
  arc=$CACHE/images/$name-$tag-$key.oci.tar
  if [[ ! -f $arc ]]; then
    mkdir -p -- "$CACHE/images" "$CACHE/logs"
    local ilog=$CACHE/logs/image-$name.log ctr mnt
    : >"$ilog"
    ctr=$(bah from --quiet scratch 2>>"$ilog") || fail "image $name" "buildah from failed" "$ilog"
    mnt=$(bah mount "$ctr" 2>>"$ilog") || fail "image $name" "buildah mount failed" "$ilog"
    "$populate" "$mnt" "${inputs[@]}" >>"$ilog" 2>&1 || fail "image $name" "populating the root filesystem failed" "$ilog"
    bah umount "$ctr" >>"$ilog" 2>&1 \
      && bah config "$@" "$ctr" >>"$ilog" 2>&1 \
      && bah commit --quiet --timestamp 0 --format oci --rm "$ctr" "oci-archive:$arc.tmp" >>"$ilog" 2>&1 \
      || fail "image $name" "buildah commit failed" "$ilog"
    mv -f -- "$arc.tmp" "$arc"
  fi
  echo "$arc"
}

# A ko-style root: /ko-app/NAME, a passwd with the nonroot user Tekton's pods run as, /tmp,
# and KO_DATA_PATH (knative reads its optional version files there).
KO_APP=""
pop_ko() {
  local mnt=$1 bin=$2 app=$KO_APP
  install -D -m 0755 -- "$bin" "$mnt/ko-app/$app"
  mkdir -p -- "$mnt/tmp" "$mnt/etc" "$mnt/var/run/ko" "$mnt/home/nonroot"
  chmod 1777 "$mnt/tmp"
  chown 65532:65532 "$mnt/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$mnt/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$mnt/etc/group"
  install -D -m 0644 -- /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
}

# Copy a file and, for ELF files, every shared library it needs (as scripts/build-image.sh).
copy_with_libs() {
  local mnt=$1 src=$2 dst=$3 lib
  install -D -m 0755 -- "$src" "$mnt$dst"
  if ldd "$src" >/dev/null 2>&1; then
    while read -r lib; do
      [[ -e $mnt$lib ]] || install -D -m 0755 -- "$(readlink -f "$lib")" "$mnt$lib"
    done < <(ldd "$src" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}')
  fi
}

# The build step's image: Debian's buildah and what its rootless run needs — newuidmap and
# newgidmap (file capabilities; the Task keeps SETUID/SETGID and allows privilege escalation), user
# `build` (1000) with subordinate ids, a signature policy, bash and the utilities the step
# script calls. Registries come from the step's own CONTAINERS_REGISTRIES_CONF.
pop_buildah() {
  local mnt=$1 t p
  copy_with_libs "$mnt" /usr/bin/buildah /usr/bin/buildah
  # File capabilities, as Debian installs them: a setuid-root copy would run without
  # CAP_DAC_OVERRIDE (the pod drops it) and could not open the user's /proc/PID/uid_map.
  copy_with_libs "$mnt" /usr/bin/newuidmap /usr/bin/newuidmap
  copy_with_libs "$mnt" /usr/bin/newgidmap /usr/bin/newgidmap
  chmod 0755 "$mnt/usr/bin/newuidmap" "$mnt/usr/bin/newgidmap"
  setcap cap_setuid=ep "$mnt/usr/bin/newuidmap"
  setcap cap_setgid=ep "$mnt/usr/bin/newgidmap"
  copy_with_libs "$mnt" "$(readlink -f /bin/bash)" /bin/bash
  ln -sf bash "$mnt/bin/sh"
  for t in env cat grep mktemp mkdir rm cp chmod ls tr wc id sed; do
    p=$(command -v "$t") || die "the buildah image needs $t on this machine"
    copy_with_libs "$mnt" "$(readlink -f "$p")" "/usr/bin/$t"
  done
  mkdir -p -- "$mnt/etc/containers" "$mnt/tmp" "$mnt/var/tmp" "$mnt/home/build" "$mnt/run/user/1000"
  chmod 1777 "$mnt/tmp" "$mnt/var/tmp"
  chown 1000:1000 "$mnt/home/build" "$mnt/run/user/1000"
  chmod 0700 "$mnt/run/user/1000"
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$mnt/etc/containers/policy.json"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nbuild:x:1000:1000:build:/home/build:/bin/bash\n' >"$mnt/etc/passwd"
  printf 'root:x:0:\nbuild:x:1000:\n' >"$mnt/etc/group"
  printf 'build:100000:65536\n' >"$mnt/etc/subuid"
  printf 'build:100000:65536\n' >"$mnt/etc/subgid"
  # Proved from the image's own root before it is committed.
  chroot "$mnt" /usr/bin/buildah --version
}

declare -A IMAGE
push_image() {
  local name=$1 tag=$2 arc=$3 dfile plog=$CACHE/logs/tekton-push.log
  dfile=$(mktemp)
  skopeo copy --quiet --preserve-digests --dest-tls-verify=false --digestfile "$dfile" \
    "oci-archive:$arc" "docker://$REGISTRY/lane-cluster/$name:$tag" >>"$plog" 2>&1 \
    || fail registry "push of $name failed" "$plog"
  IMAGE[$name]="$REGISTRY/lane-cluster/$name@$(cat -- "$dfile")"
  rm -f -- "$dfile"
}

# NAME -> "TAG ARCHIVE" of every image (built or found in the cache).
declare -A ARCHIVE
archives() {
  local spec name app arc ver
  for spec in "${BINARIES[@]}"; do
    name=${spec%%=*} app=${spec##*/}
    ver=$PIPELINE_VERSION
    [[ $name == triggers-* ]] && ver=$TRIGGERS_VERSION
    KO_APP=$app
    arc=$(image_archive "tekton-$name" "$ver" pop_ko "$BINDIR/$name" -- \
      --entrypoint "[\"/ko-app/$app\"]" --user 65532:65532 \
      --env PATH=/ko-app --env KO_DATA_PATH=/var/run/ko)
    ARCHIVE[tekton-$name]="$ver $arc"
  done
  ver=$(dpkg-query -W -f '${Version}' buildah 2>/dev/null | tr -c 'A-Za-z0-9_.-' '_')
  arc=$(image_archive buildah "${ver:-local}" pop_buildah /usr/bin/buildah /usr/bin/newuidmap /bin/bash -- \
    --user 1000:1000 --workingdir /home/build --entrypoint '[]' --cmd /bin/bash \
    --env PATH=/usr/bin:/bin --env HOME=/home/build --env XDG_RUNTIME_DIR=/run/user/1000 \
    --env BUILDAH_ISOLATION=chroot --env STORAGE_DRIVER=vfs)
  ARCHIVE[buildah]="${ver:-local} $arc"
}

images() {
  mkdir -p -- "$TSTATE" "$CACHE/logs"
  : >"$CACHE/logs/tekton-push.log"
  local n
  for n in "${!ARCHIVE[@]}"; do
    # shellcheck disable=SC2086 # "TAG ARCHIVE", neither with spaces
    push_image "$n" ${ARCHIVE[$n]}
  done
  {
    local n
    for n in "${!IMAGE[@]}"; do echo "$n ${IMAGE[$n]}"; done
  } | sort >"$TSTATE/images.txt"
}
image_ref() { awk -v n="$1" '$1 == n {print $2}' "$TSTATE/images.txt" 2>/dev/null; }

# ---------------------------------------------------------------- manifests
# join FILE...: upstream files joined with "\n---\n" (some end without a newline; plain
# concatenation silently merges the last object of one file with the first of the next).
join_yaml() {
  local f first=1
  for f in "$@"; do
    ((first)) || printf '\n---\n'
    first=0
    cat -- "$f"
  done
  printf '\n'
}

# The install manifest: every ko:// reference replaced by the local image's digest, the
# controller's shell image pointed at the cluster's busybox. Refuses any other image.
render_manifests() {
  local pdir tdir
  pdir=$(mod_dir "github.com/tektoncd/pipeline@$PIPELINE_VERSION")
  tdir=$(mod_dir "github.com/tektoncd/triggers@$TRIGGERS_VERSION")
  mkdir -p -- "$TSTATE"
  # CRDs and namespaces first (their own apply), then the rest. config/resolvers (remote
  # resolution: hub, git, bundles) is not installed: the lane's Pipeline names its Tasks.
  join_yaml "$pdir"/config/100-namespace/*.yaml "$pdir"/config/300-crds/*.yaml \
    "$tdir"/config/300-*.yaml >"$TSTATE/crds.yaml"
  local prest=() f
  for f in "$pdir"/config/*.yaml; do
    prest+=("$f")
  done
  join_yaml "${prest[@]}" >"$TSTATE/pipeline.yaml"
  local trest=()
  for f in "$tdir"/config/*.yaml; do
    [[ ${f##*/} == 300-* ]] || trest+=("$f")
  done
  join_yaml "${trest[@]}" "$tdir"/config/interceptors/*.yaml >"$TSTATE/triggers.yaml"
  local sed_args=() spec name
  for spec in "${BINARIES[@]}"; do
    name=${spec%%=*}
    sed_args+=(-e "s|ko://${spec#*=}\\b|$(image_ref "tekton-$name")|g")
  done
  # Only the shell image's value: the Windows one is never pulled on a Linux node.
  sed_args+=(-e "s|\"-shell-image\", \"[^\"]*\"|\"-shell-image\", \"$LANE_CLUSTER_BUSYBOX_IMAGE\"|")
  sed -i "${sed_args[@]}" "$TSTATE/pipeline.yaml" "$TSTATE/triggers.yaml"
  # Nothing may name a registry other than the cluster's (the Windows shell image is a flag
  # value a Linux node never pulls).
  local bad
  bad=$(grep -nE '^[^#]*(ko://|\b(cgr\.dev|gcr\.io|ghcr\.io|docker\.io|quay\.io|registry\.k8s\.io)/)' \
    "$TSTATE/pipeline.yaml" "$TSTATE/triggers.yaml" || true)
  bad+=$(grep -nE '^\s*image: ' "$TSTATE/pipeline.yaml" "$TSTATE/triggers.yaml" | grep -vF "$REGISTRY/" || true)
  [[ -z $bad ]] || fail manifests "images outside the cluster registry would be pulled:"$'\n'"$bad"
  grep -q -- "-shell-image\", \"$LANE_CLUSTER_BUSYBOX_IMAGE\"" "$TSTATE/pipeline.yaml" \
    || fail manifests "the controller's -shell-image was not replaced (upstream changed its form?)"
}

apply_manifests() {
  local alog=$TSTATE/apply.log
  : >"$alog"
  # Server-side: the PipelineRun/TaskRun CRDs are larger than the last-applied annotation allows.
  kc apply --server-side --force-conflicts -f "$TSTATE/crds.yaml" >>"$alog" 2>&1 || fail apply "CRDs" "$alog"
  kc wait --for condition=established --timeout=60s crd --all >>"$alog" 2>&1 || fail apply "CRDs not established" "$alog"
  apply_retrying "$TSTATE/pipeline.yaml" "Tekton Pipelines config/"
  wait_deployments tekton-pipelines tekton-pipelines-controller tekton-pipelines-webhook tekton-events-controller
  # Triggers' webhook validates its objects through Pipelines' (TaskRun/PipelineRun templates).
  apply_retrying "$TSTATE/triggers.yaml" "Tekton Triggers config/"
  wait_deployments tekton-pipelines tekton-triggers-controller tekton-triggers-webhook tekton-triggers-core-interceptors
}

# The webhook configurations in a manifest get their rules from the webhook pod itself once it
# starts; from then until it serves, the API server refuses the ConfigMaps that follow them in
# the same manifest ("connection refused"). Server-side apply is idempotent, so apply again
# until everything is accepted (about 2 minutes at most).
apply_retrying() {
  local file=$1 what=$2 alog=$TSTATE/apply.log out=$TSTATE/apply-attempt.log attempt rc
  for attempt in $(seq 1 24); do
    rc=0
    kc apply --server-side --force-conflicts -f "$file" >"$out" 2>&1 || rc=$?
    cat -- "$out" >>"$alog"
    ((rc != 0)) || return 0
    grep -q 'failed calling webhook' "$out" || fail apply "$what" "$alog"
    echo "cluster-tekton: apply $what: a webhook is not serving yet (attempt $attempt), again in 5 s" >&2
    sleep 5
  done
  fail apply "$what (the webhooks never served)" "$alog"
}

wait_deployments() {
  local ns=$1 d
  shift
  for d in "$@"; do
    if ! kc -n "$ns" rollout status "deployment/$d" --timeout=180s >>"$TSTATE/apply.log" 2>&1; then
      kc -n "$ns" get pods -o wide >>"$TSTATE/apply.log" 2>&1 || true
      kc -n "$ns" logs "deployment/$d" --all-containers --tail=30 >>"$TSTATE/apply.log" 2>&1 || true
      fail "$d" "not ready after 180s" "$TSTATE/apply.log"
    fi
  done
  # knative webhooks answer only once their certificates are in place: wait for the endpoints.
  for d in "$@"; do
    case $d in *webhook*)
      local i
      for ((i = 0; i < 60; i++)); do
        [[ -n $(kc -n "$ns" get endpoints "$d" -o jsonpath='{.subsets[*].addresses[*].ip}' 2>/dev/null) ]] && break
        sleep 1
      done ;;
    esac
  done
}

DEPLOYMENTS=(tekton-pipelines-controller tekton-pipelines-webhook tekton-events-controller
  tekton-triggers-controller tekton-triggers-webhook tekton-triggers-core-interceptors)

cmd_status() {
  cluster_env
  local d rc=0 r
  for d in "${DEPLOYMENTS[@]}"; do
    if r=$(kc -n tekton-pipelines get deployment "$d" -o jsonpath='{.status.readyReplicas}/{.spec.replicas}' 2>/dev/null); then
      printf '%-46s %s ready\n' "deployment/$d" "${r:-0/?}"
      [[ ${r%%/*} == "${r#*/}" && -n ${r%%/*} ]] || rc=3
    else
      printf '%-46s %s\n' "deployment/$d" "not installed"
      rc=3
    fi
  done
  [[ -f $TSTATE/images.txt ]] && printf '%-46s %s\n' "buildah image" "$(image_ref buildah)"
  return "$rc"
}

cmd_env() {
  cluster_env
  cmd_status >/dev/null 2>&1 || { echo "cluster-tekton: Tekton is not up (scripts/cluster-tekton.sh up)" >&2; exit 3; }
  printf 'export LANE_CLUSTER_TEKTON_NAMESPACE=%q\n' tekton-pipelines
  printf 'export LANE_CLUSTER_TEKTON_PIPELINE_VERSION=%q\n' "$PIPELINE_VERSION"
  printf 'export LANE_CLUSTER_TEKTON_TRIGGERS_VERSION=%q\n' "$TRIGGERS_VERSION"
  printf 'export LANE_CLUSTER_BUILDAH_IMAGE=%q\n' "$(image_ref buildah)"
}

cmd_build() {
  phase build
  build_binaries
  phase archives
  mkdir -p -- "$RUN"
  archives
  phase_end
}

cmd_up() {
  [[ $(id -u) -eq 0 ]] || die "up needs root (buildah vfs storage)"
  local t0=$SECONDS
  cluster_env
  command -v skopeo >/dev/null && command -v buildah >/dev/null || die "needs buildah and skopeo (scripts/cluster.sh up installs them)"
  cmd_build
  phase push
  images
  phase manifests
  render_manifests
  phase apply
  apply_manifests
  phase_end
  log "Tekton Pipelines $PIPELINE_VERSION and Triggers $TRIGGERS_VERSION up in $((SECONDS - t0))s"
  printf '  %s\n' "${PHASES[@]}" >&2
  cmd_status >&2
}

cmd_down() {
  cluster_env
  local t0=$SECONDS f
  [[ -f $TSTATE/triggers.yaml ]] || { log "nothing applied by up ($TSTATE/triggers.yaml missing)"; return 0; }
  # Runs and EventListeners first (their pods), then the controllers, webhooks and CRDs.
  kc delete pipelineruns,taskruns,eventlisteners --all-namespaces --all --wait=true --timeout=120s >/dev/null 2>&1 || true
  for f in triggers.yaml pipeline.yaml crds.yaml; do
    kc delete --ignore-not-found --wait=true --timeout=180s -f "$TSTATE/$f" >/dev/null 2>&1 \
      || log "warning: deleting $f left something behind"
  done
  log "down in $((SECONDS - t0))s"
}

lock() {
  mkdir -p -- "$CACHE"
  exec 8>"$CACHE/cluster-tekton.lock"
  flock -w 900 8 || die "another scripts/cluster-tekton.sh holds $CACHE/cluster-tekton.lock"
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in up | down | build) lock ;; esac
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    build) cmd_build; printf '  %s\n' "${PHASES[@]}" >&2 ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
