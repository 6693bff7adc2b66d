#!/usr/bin/env bash
# A real single-node Kubernetes v1.37.2 cluster on this machine, with Argo CD v2.14.21 — every
# part built from a pinned Go module (cluster/go/*) or a Debian package; nothing from the
# internet at run time. See docs/cluster.md.
#
# usage: scripts/cluster.sh up | down [--purge] | env | status | build | --help
#   up      build what the cache lacks, start everything, print what runs where and each
#           phase's time; when already up, only reports status
#   down    stop every process, unmount, remove network namespaces, bridge, node interface,
#           iptables chains and sysctl changes, then compare the machine with its state before
#           `up` (exit 1 on a difference). --purge also wipes the state dir (never the cache).
#   env     `export LANE_CLUSTER_*=…` lines for a running cluster (eval "$(… env)")
#   status  one line per component
#   build   only build (or find in the cache) every binary; starts nothing
# Directories: LANE_CLUSTER_CACHE (default /var/cache/lane-cluster: binaries, images, Go caches)
#              LANE_CLUSTER_STATE (default /var/lib/lane-cluster: PKI, kubeconfigs, data, logs)
#              /run/lane-cluster (pids, sockets, runtime state)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LANE_CLUSTER_CACHE:-/var/cache/lane-cluster}
STATE=${LANE_CLUSTER_STATE:-/var/lib/lane-cluster}
RUN=/run/lane-cluster
GO=${LANE_CLUSTER_GO:-/usr/local/go/bin/go}

K8S_VERSION=v1.37.2
ARGOCD_VERSION=v2.14.21
COREDNS_VERSION=v1.14.1
LOCALPATH_VERSION=v0.0.30
KUSTOMIZE_VERSION=v5.8.1

# Addresses: everything lives on this machine. The node address sits on its own interface;
# pods get routes to the pod range, the service range and the node address only.
NODE_NAME=lane-node
NODE_IP=10.87.0.1
DUMMY_IF=lane0
BRIDGE_IF=lane-br0
POD_CIDR=10.88.0.0/24
POD_GW=10.88.0.1
SVC_CIDR=10.96.0.0/16
API_SVC_IP=10.96.0.1
DNS_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
API_PORT=6443
ETCD_PORT=12379
ETCD_PEER_PORT=12380
REGISTRY="$NODE_IP:5000"
REDIS_PORT=16379
REPO_SERVER_PORT=18081
ARGO_CONTROLLER_METRICS_PORT=18082
ARGO_REPO_METRICS_PORT=18084
# Nothing listens here: containerd sends every registry without its own entry to it.
REFUSE_ADDR=127.0.0.1:1
ARGOCD_NAMESPACE=argocd

PKI=$STATE/pki
KCFG=$STATE/kubeconfig
LOGS=$STATE/logs
PIDS=$RUN/pids
CTRD_SOCK=$RUN/containerd/containerd.sock
CGROUP_ROOT=lane-cluster
# Order of start; down stops in reverse.
COMPONENTS=(etcd registry kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy redis argocd-repo-server argocd-application-controller)
# Sysctls that up (or the kubelet, kube-proxy, the bridge plugin) may change; down restores them.
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max)

log() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

# ---------------------------------------------------------------- phases and failure reports
PHASES=()
phase_start=0
phase_name=""
phase() {
  phase_end
  phase_name=$1
  phase_start=$(date +%s.%N)
  log "phase $phase_name"
}
phase_end() {
  if [[ -n $phase_name ]]; then
    local t
    t=$(awk -v a="$phase_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
    PHASES+=("$(printf '%-22s %7ss' "$phase_name" "$t")")
    phase_name=""
  fi
}

# fail COMPONENT MESSAGE [LOGFILE]: names the component, shows its log tail, exits 1.
fail() {
  local comp=$1 msg=$2 logf=${3:-$LOGS/$1.log}
  echo "cluster: FAILED: $comp: $msg" >&2
  if [[ -f $logf ]]; then
    echo "cluster: --- last 40 lines of $logf ---" >&2
    tail -n 40 -- "$logf" >&2
    echo "cluster: ---" >&2
  fi
  exit 1
}

# ---------------------------------------------------------------- processes
pidfile() { echo "$PIDS/$1.pid"; }
# The start time (clock ticks since boot, field 22 of /proc/PID/stat) of a process.
start_time() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  awk '{print $20}' <<<"$stat"
}
# A live process, not a zombie (our daemons' parent is init, which reaps them when it will).
alive() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}
# pid files hold "PID STARTTIME": a reused pid is not mistaken for ours.
pid_of() {
  local f pid st
  f=$(pidfile "$1")
  [[ -f $f ]] || return 1
  read -r pid st <"$f" || return 1
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  [[ $(start_time "$pid" 2>/dev/null) == "$st" ]] || return 1
  echo "$pid"
}
running() { pid_of "$1" >/dev/null; }

# The TCP addresses each component listens on: checked free before it starts (a listener on
# the same port of another address, e.g. a test registry on 127.0.0.1:5000, is no conflict).
declare -A LISTENS=(
  [etcd]="127.0.0.1:$ETCD_PORT 127.0.0.1:$ETCD_PEER_PORT" [registry]=$REGISTRY
  [kube-apiserver]=$NODE_IP:$API_PORT [kube-controller-manager]=127.0.0.1:10257
  [kube-scheduler]=127.0.0.1:10259 [kubelet]="127.0.0.1:10248 $NODE_IP:10250"
  [kube-proxy]="127.0.0.1:10249 127.0.0.1:10256" [redis]=127.0.0.1:$REDIS_PORT
  [argocd-repo-server]="127.0.0.1:$REPO_SERVER_PORT 127.0.0.1:$ARGO_REPO_METRICS_PORT"
  [argocd-application-controller]=0.0.0.0:$ARGO_CONTROLLER_METRICS_PORT
)

ports_free() {
  local name=$1 want port addr local_addr line
  for want in ${LISTENS[$name]:-}; do
    addr=${want%:*} port=${want##*:}
    while read -r line; do
      local_addr=$(awk '{print $4}' <<<"$line")
      case "$local_addr" in
        "$addr:$port" | "0.0.0.0:$port" | "*:$port" | "[::]:$port" | "[::ffff:$addr]:$port") ;;
        *) [[ $addr == 0.0.0.0 ]] || continue ;;
      esac
      fail "$name" "$want is already taken: $line" /dev/null
    done < <(ss -Hltnp "sport = :$port" 2>/dev/null)
  done
}

# start NAME CMD...: runs CMD in its own session, output appended to $LOGS/NAME.log.
start() {
  local name=$1
  shift
  if running "$name"; then
    log "$name already running (pid $(pid_of "$name"))"
    return 0
  fi
  ports_free "$name"
  mkdir -p -- "$LOGS" "$PIDS"
  # One generation of rotation keeps a long-lived state dir's logs bounded.
  if [[ -f $LOGS/$name.log ]] && (($(stat -c %s -- "$LOGS/$name.log") > 50 * 1024 * 1024)); then
    mv -f -- "$LOGS/$name.log" "$LOGS/$name.log.1"
  fi
  echo "=== $(date -u +%FT%TZ) start: $*" >>"$LOGS/$name.log"
  # Not a process group leader, so setsid (and env) exec in place: $! is the daemon itself.
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  local pid=$!
  echo "$pid $(start_time "$pid")" >"$(pidfile "$name")"
}

# wait_for NAME SECONDS CMD...: polls CMD until it succeeds; fails NAME if its process dies.
wait_for() {
  local name=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ -f $(pidfile "$name") ]] && ! running "$name"; then
      fail "$name" "process exited during start-up"
    fi
    ((SECONDS < deadline)) || fail "$name" "not ready after ${secs}s (waiting for: $*)"
    sleep 0.5
  done
}

stop_component() {
  local name=$1 pid
  if pid=$(pid_of "$name"); then
    local t0=$SECONDS
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 150; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      log "$name (pid $pid) ignored TERM: KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    log "stopped $name (pid $pid, $((SECONDS - t0))s)"
  fi
  rm -f -- "$(pidfile "$name")"
}

# Processes of ours that are not tracked by a pid file: container processes (in our cgroup
# root) and our containerd's shims (their command line names its socket).
stray_pids() {
  # Matched in bash, so no helper process carries the pattern in its own command line.
  local d pid cg cmd
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    # External readers: a process may vanish mid-scan, and a failed $(<file) ends the script.
    cg=$(cat -- "$d/cgroup" 2>/dev/null) || continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
    if [[ $cg == *"/$CGROUP_ROOT/"* || ($cmd == *containerd-shim* && $cmd == *"$CTRD_SOCK"*) ]]; then
      echo "$pid"
    fi
  done
}

# ---------------------------------------------------------------- tools
kc() { "$STATE/bin/kubectl" --kubeconfig "$KCFG/admin.kubeconfig" "$@"; }
ctr_() { ctr --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

ensure_packages() {
  local need=() p
  # binary:package
  for p in containerd:containerd runc:runc etcd:etcd-server docker-registry:docker-registry \
    buildah:buildah skopeo:skopeo redis-server:redis-server musl-gcc:musl-tools \
    busybox:busybox-static iptables:iptables ip:iproute2 conntrack:conntrack openssl:openssl \
    git:git curl:curl jq:jq redis-cli:redis-tools setsid:util-linux nft:nftables; do
    command -v "${p%%:*}" >/dev/null 2>&1 || [[ -x /usr/sbin/${p%%:*} ]] || need+=("${p#*:}")
  done
  [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
  if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get update -qq >&2
    # The cluster runs private daemons: the packages' own services (etcd, containerd, redis,
    # docker-registry on :5000) must not start on an init-managed machine (policy-rc.d 101).
    local prc=/usr/sbin/policy-rc.d made=0 rc=0
    if [[ ! -e $prc ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod 0755 "$prc" && made=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -- "${need[@]}" >&2 || rc=$?
    ((made)) && rm -f -- "$prc"
    ((rc == 0)) || die "apt-get install ${need[*]} failed (exit $rc)"
  fi
  [[ -x $GO ]] || die "no Go toolchain at $GO (set LANE_CLUSTER_GO)"
}

# The kubelet's hard requirements on this machine; stop with the exact reason.
preflight() {
  [[ $(id -u) -eq 0 ]] || die "up needs root (network, mounts, cgroups, iptables)"
  local c
  for c in cpu cpuacct cpuset memory devices freezer pids; do
    [[ -d /sys/fs/cgroup/$c ]] || [[ -f /sys/fs/cgroup/cgroup.controllers ]] \
      || die "cannot run the kubelet: cgroup controller '$c' is not mounted under /sys/fs/cgroup"
  done
  [[ -d /proc/sys/net/bridge ]] \
    || die "cannot run the kubelet's pod network: /proc/sys/net/bridge is missing (br_netfilter not loaded)"
  grep -qw overlay /proc/filesystems \
    || die "cannot run containerd's overlayfs snapshotter: the kernel has no overlay filesystem"
  iptables -w -t nat -S >/dev/null 2>&1 || die "cannot run kube-proxy: iptables -t nat does not work"
  [[ -e /dev/kmsg ]] || log "warning: /dev/kmsg missing (kubelet OOM watcher)"
}

# ---------------------------------------------------------------- builds (cached)
GO_ENV=()
go_env() {
  mkdir -p -- "$CACHE/go/mod" "$CACHE/go/build"
  # Go caches live in the cache dir, so an interrupted cold build resumes.
  GO_ENV=(GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" CGO_ENABLED=0 GOTOOLCHAIN=local)
}

k8s_ldflags() {
  local p out="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    out+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37"
    out+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$out"
}

# go_key MODULE_DIR LDFLAGS: the cache key of a module's builds (module files, flags, Go).
go_key() {
  local dir=$1 ldflags=$2
  {
    cat -- "$dir"/go.mod "$dir"/go.sum "$dir"/*.go
    echo "$ldflags"
    "$GO" version
  } | sha256sum | cut -c1-12
}

# build_go GROUP VERSION MODULE_DIR LDFLAGS NAME=PACKAGE...: builds each missing binary into
# $CACHE/bin/GROUP-VERSION-KEY/NAME; prints that directory.
build_go() {
  local group=$1 version=$2 dir=$ROOT/cluster/go/$3 ldflags=$4
  shift 4
  local key out
  key=$(go_key "$dir" "$ldflags")
  out=$CACHE/bin/$group-$version-$key
  mkdir -p -- "$out" "$CACHE/logs"
  local spec name pkg t0
  for spec in "$@"; do
    name=${spec%%=*} pkg=${spec#*=}
    [[ -x $out/$name ]] && continue
    t0=$SECONDS
    log "building $name ($pkg $version)"
    if ! (cd "$dir" && env "${GO_ENV[@]}" "$GO" build -trimpath -buildvcs=false -ldflags "$ldflags" \
      -o "$out/.$name.tmp" "$pkg") >"$CACHE/logs/build-$name.log" 2>&1; then
      fail "build $name" "go build $pkg failed" "$CACHE/logs/build-$name.log"
    fi
    mv -f -- "$out/.$name.tmp" "$out/$name"
    log "built $name in $((SECONDS - t0))s"
  done
  echo "$out"
}

build_all() {
  go_env
  local kdir cdir ldir zdir adir pdir
  kdir=$(build_go kubernetes "$K8S_VERSION" kubernetes "$(k8s_ldflags)" \
    kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
    kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
    kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
    kubelet=k8s.io/kubernetes/cmd/kubelet \
    kube-proxy=k8s.io/kubernetes/cmd/kube-proxy \
    kubectl=k8s.io/kubernetes/cmd/kubectl)
  cdir=$(build_go coredns "$COREDNS_VERSION" coredns "-s -w" coredns=.)
  ldir=$(build_go local-path "$LOCALPATH_VERSION" local-path "-s -w" \
    local-path-provisioner=github.com/rancher/local-path-provisioner)
  pdir=$(build_pause)
  # $STATE/bin: the binaries this cluster runs, by name (Argo CD's by argv[0]).
  mkdir -p -- "$STATE/bin"
  local n
  for n in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    ln -sfn -- "$kdir/$n" "$STATE/bin/$n"
  done
  ln -sfn -- "$cdir/coredns" "$STATE/bin/coredns"
  ln -sfn -- "$ldir/local-path-provisioner" "$STATE/bin/local-path-provisioner"
  ln -sfn -- "$pdir/pause" "$STATE/bin/pause"
}

# Argo CD and kustomize: built after the core cluster is up (a cold build of the core comes
# first so a broken machine is found early).
build_argocd() {
  go_env
  local zdir adir n
  zdir=$(build_go kustomize "$KUSTOMIZE_VERSION" kustomize \
    "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION" \
    kustomize=sigs.k8s.io/kustomize/kustomize/v5)
  adir=$(build_go argocd "$ARGOCD_VERSION" argocd \
    "-s -w -X github.com/argoproj/argo-cd/v2/common.version=${ARGOCD_VERSION#v}" \
    argocd=github.com/argoproj/argo-cd/v2/cmd)
  mkdir -p -- "$STATE/bin"
  ln -sfn -- "$zdir/kustomize" "$STATE/bin/kustomize"
  for n in argocd argocd-application-controller argocd-repo-server; do
    ln -sfn -- "$adir/argocd" "$STATE/bin/$n"
  done
}

# The pod sandbox binary from Kubernetes' own build/pause/linux/pause.c, static (musl).
build_pause() {
  local src key out
  src=$(mod_dir kubernetes k8s.io/kubernetes)/build/pause/linux/pause.c
  key=$( { cat -- "$src"; musl-gcc --version 2>&1 | head -1; } | sha256sum | cut -c1-12)
  out=$CACHE/bin/pause-$K8S_VERSION-$key
  if [[ ! -x $out/pause ]]; then
    mkdir -p -- "$out"
    musl-gcc -Os -static -Wall -DVERSION="$K8S_VERSION-lane" -o "$out/.pause.tmp" "$src" \
      >"$CACHE/logs/build-pause.log" 2>&1 || fail "build pause" "musl-gcc failed" "$CACHE/logs/build-pause.log"
    strip "$out/.pause.tmp" 2>/dev/null || true
    mv -f -- "$out/.pause.tmp" "$out/pause"
  fi
  echo "$out"
}

# mod_dir MODULE_DIR MODULE: the module's source in the module cache (downloaded if missing).
mod_dir() {
  env "${GO_ENV[@]}" "$GO" -C "$ROOT/cluster/go/$1" mod download "$2" >&2
  env "${GO_ENV[@]}" "$GO" -C "$ROOT/cluster/go/$1" list -m -f '{{.Dir}}' "$2"
}

# ---------------------------------------------------------------- images (cached OCI archives)
bah() {
  buildah --storage-driver vfs --root "$CACHE/buildah/root" --runroot "$RUN/buildah" "$@"
}

# image_archive NAME TAG POPULATE_FN [buildah config args...]: one-layer image from scratch;
# prints the archive path. The key is the content the populate function copies.
IMAGE_INPUTS=()
image_archive() {
  local name=$1 tag=$2 populate=$3
  shift 3
  local key arc
  key=$( { printf '%s\n' "$name" "$tag" "$*" "recipe-1"; sha256sum -- "${IMAGE_INPUTS[@]}"; } | sha256sum | cut -c1-12)
  arc=$CACHE/images/$name-$tag-$key.oci.tar
  if [[ ! -f $arc ]]; then
    mkdir -p -- "$CACHE/images" "$CACHE/logs"
    local ilog=$CACHE/logs/image-$name.log ctr mnt
    : >"$ilog"
    ctr=$(bah from --quiet scratch 2>>"$ilog") || fail "image $name" "buildah from failed" "$ilog"
    mnt=$(bah mount "$ctr" 2>>"$ilog") || fail "image $name" "buildah mount failed" "$ilog"
    "$populate" "$mnt" >>"$ilog" 2>&1 || fail "image $name" "populating the root filesystem failed" "$ilog"
    bah umount "$ctr" >>"$ilog" 2>&1 \
      && bah config "$@" "$ctr" >>"$ilog" 2>&1 \
      && bah commit --quiet --timestamp 0 --format oci --rm "$ctr" "oci-archive:$arc.tmp" >>"$ilog" 2>&1 \
      || fail "image $name" "buildah commit failed" "$ilog"
    mv -f -- "$arc.tmp" "$arc"
  fi
  echo "$arc"
}

pop_pause() { install -D -m 0755 -- "$STATE/bin/pause" "$1/pause"; }
pop_coredns() { install -D -m 0755 -- "$STATE/bin/coredns" "$1/coredns"; }
pop_localpath() {
  install -D -m 0755 -- "$STATE/bin/local-path-provisioner" "$1/usr/bin/local-path-provisioner"
}
pop_busybox() {
  install -D -m 0755 -- /bin/busybox "$1/bin/busybox"
  local a
  # The applets as links, so `sh`, `mkdir`, `rm` … resolve on PATH.
  for a in $(/bin/busybox --list); do
    [[ $a == busybox ]] || ln -sf busybox "$1/bin/$a"
  done
  mkdir -p -- "$1/tmp" "$1/etc"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$1/etc/group"
}

declare -A IMAGE
# push_image NAME TAG ARCHIVE: to the cluster registry; IMAGE[NAME]=registry/repo@digest.
push_image() {
  local name=$1 tag=$2 arc=$3 dfile
  dfile=$(mktemp)
  skopeo copy --quiet --preserve-digests --dest-tls-verify=false --digestfile "$dfile" \
    "oci-archive:$arc" "docker://$REGISTRY/lane-cluster/$name:$tag" >>"$LOGS/registry-push.log" 2>&1 \
    || fail registry "push of $name failed" "$LOGS/registry-push.log"
  IMAGE[$name]="$REGISTRY/lane-cluster/$name@$(<"$dfile")"
  rm -f -- "$dfile"
}

images() {
  mkdir -p -- "$LOGS"
  : >"$LOGS/registry-push.log"
  local arc
  IMAGE_INPUTS=("$STATE/bin/pause")
  arc=$(image_archive pause "$K8S_VERSION" pop_pause --entrypoint '["/pause"]' --user 65535:65535)
  push_image pause "$K8S_VERSION" "$arc"
  IMAGE_INPUTS=("$STATE/bin/coredns")
  arc=$(image_archive coredns "$COREDNS_VERSION" pop_coredns --entrypoint '["/coredns"]')
  push_image coredns "$COREDNS_VERSION" "$arc"
  IMAGE_INPUTS=("$STATE/bin/local-path-provisioner")
  arc=$(image_archive local-path-provisioner "$LOCALPATH_VERSION" pop_localpath \
    --entrypoint '[]' --cmd local-path-provisioner --env PATH=/usr/bin:/bin)
  push_image local-path-provisioner "$LOCALPATH_VERSION" "$arc"
  local bbver
  bbver=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null | tr -c 'A-Za-z0-9_.-' '_')
  IMAGE_INPUTS=(/bin/busybox)
  arc=$(image_archive busybox "${bbver:-local}" pop_busybox --cmd sh --env PATH=/bin)
  push_image busybox "${bbver:-local}" "$arc"
  {
    local n
    for n in "${!IMAGE[@]}"; do echo "$n ${IMAGE[$n]}"; done
  } | sort >"$STATE/images.txt"
}

image_ref() { awk -v n="$1" '$1 == n {print $2}' "$STATE/images.txt" 2>/dev/null; }

# ---------------------------------------------------------------- snapshot (down's check)
snapshot() {
  ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print "link " $2}'
  ip -o -4 addr show | awk '{print "addr " $2 " " $4}'
  ip -4 route show table all | sed 's/^/route4 /'
  ip netns list 2>/dev/null | awk '{print "netns " $1}'
  # grep finds nothing on a machine without rules: not an error here.
  { iptables-save 2>/dev/null | grep -E '^(\*|:|-A)' | sed -E 's/ \[[0-9]+:[0-9]+\]$//; s/^/ipt4 /'; } || true
  { ip6tables-save 2>/dev/null | grep -E '^(\*|:|-A)' | sed -E 's/ \[[0-9]+:[0-9]+\]$//; s/^/ipt6 /'; } || true
  awk '{print "mount " $2}' /proc/mounts | sort -u
  local s p
  for s in "${SYSCTLS[@]}"; do
    p=/proc/sys/${s//.//}
    [[ -r $p ]] && echo "sysctl $s=$(tr -s '\t' ' ' <"$p")"
  done
  { nft list tables 2>/dev/null | sed 's/^/nft /'; } || true
  for p in /run/containerd /run/netns /var/log/pods /var/log/containers /var/lib/cni /var/lib/cni/results /etc/cni \
    /opt/local-path-provisioner; do
    [[ -e $p ]] && echo "path $p"
  done
  for p in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
    [[ -d $p ]] && echo "cgroup $p"
  done
  stray_pids | sed 's/^/process /'
  return 0
}

# ---------------------------------------------------------------- network and containment
sysctl_set() {
  local key=$1 val=$2 p=/proc/sys/${1//.//}
  [[ -w $p ]] || return 0
  echo "$val" >"$p"
}

network_up() {
  mkdir -p -- "$RUN"
  # Sysctl values as found, restored by down (kubelet and the bridge plugin change some).
  if [[ ! -f $RUN/sysctl.orig ]]; then
    local s p
    for s in "${SYSCTLS[@]}"; do
      p=/proc/sys/${s//.//}
      [[ -r $p ]] && echo "$s $(<"$p")"
    done >"$RUN/sysctl.orig.tmp" || true
    mv -f -- "$RUN/sysctl.orig.tmp" "$RUN/sysctl.orig"
  fi
  if ! ip link show dev "$DUMMY_IF" >/dev/null 2>&1; then
    # Some kernels here lack the dummy driver; an ifb device holds a local address as well.
    ip link add "$DUMMY_IF" type dummy 2>/dev/null || ip link add "$DUMMY_IF" type ifb \
      || die "cannot create the node interface $DUMMY_IF (neither dummy nor ifb devices are supported)"
  fi
  sysctl_set "net.ipv6.conf.$DUMMY_IF.disable_ipv6" 1
  ip addr replace "$NODE_IP/32" dev "$DUMMY_IF"
  ip link set "$DUMMY_IF" up
  # Service traffic between pods on the bridge must pass through iptables (kube-proxy's DNAT).
  sysctl_set net.bridge.bridge-nf-call-iptables 1
  sysctl_set net.ipv4.ip_forward 1
  containment_rules
}

# Containment: forwarding is on (pod → service → pod), so the only forwarded traffic allowed
# is between pods on the bridge; pods reach the host only at the node address; the node
# address is reachable only from the host and the pods; Argo CD's controller metrics (hard-
# coded to 0.0.0.0) only from loopback.
containment_rules() {
  local t
  for t in iptables ip6tables; do
    "$t" -w -N LANE-FORWARD 2>/dev/null || "$t" -w -F LANE-FORWARD
    "$t" -w -N LANE-INPUT 2>/dev/null || "$t" -w -F LANE-INPUT
    "$t" -w -C FORWARD -j LANE-FORWARD 2>/dev/null || "$t" -w -I FORWARD 1 -j LANE-FORWARD
    "$t" -w -C INPUT -j LANE-INPUT 2>/dev/null || "$t" -w -I INPUT 1 -j LANE-INPUT
  done
  iptables -w -A LANE-FORWARD -i "$BRIDGE_IF" -o "$BRIDGE_IF" -s "$POD_CIDR" -d "$POD_CIDR" -j ACCEPT
  iptables -w -A LANE-FORWARD -i "$BRIDGE_IF" -j DROP
  iptables -w -A LANE-FORWARD -o "$BRIDGE_IF" -j DROP
  iptables -w -A LANE-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
  iptables -w -A LANE-INPUT -i "$BRIDGE_IF" ! -d "$NODE_IP" -j DROP
  iptables -w -A LANE-INPUT -d "$NODE_IP" -i lo -j RETURN
  iptables -w -A LANE-INPUT -d "$NODE_IP" -i "$BRIDGE_IF" -j RETURN
  iptables -w -A LANE-INPUT -d "$NODE_IP" -j DROP
  iptables -w -A LANE-INPUT -p tcp --dport "$ARGO_CONTROLLER_METRICS_PORT" ! -i lo -j DROP
  ip6tables -w -A LANE-FORWARD -i "$BRIDGE_IF" -j DROP
  ip6tables -w -A LANE-FORWARD -o "$BRIDGE_IF" -j DROP
  ip6tables -w -A LANE-INPUT -i "$BRIDGE_IF" -j DROP
  ip6tables -w -A LANE-INPUT -p tcp --dport "$ARGO_CONTROLLER_METRICS_PORT" ! -i lo -j DROP
}

# Removes every chain named KUBE-*, LANE-*, CNI-* and the rules that jump to them, table by
# table, leaving everything else as it is.
iptables_cleanup() {
  local fam save restore table tables
  for fam in 4 6; do
    if [[ $fam == 4 ]]; then save=iptables-save restore=iptables-restore; else save=ip6tables-save restore=ip6tables-restore; fi
    tables=$("$save" 2>/dev/null | sed -n 's/^\*//p')
    for table in $tables; do
      local dump
      dump=$("$save" -t "$table" 2>/dev/null) || continue
      grep -qE '(KUBE-|LANE-|CNI-)' <<<"$dump" || continue
      grep -vE '^:(KUBE-|LANE-|CNI-)|^-A (KUBE-|LANE-|CNI-)|-j (KUBE-|LANE-|CNI-)|-g (KUBE-|LANE-|CNI-)' <<<"$dump" \
        | "$restore" -w -T "$table" || log "warning: $restore -T $table failed"
    done
  done
}

# iptables-nft leaves the nftables tables it created (empty, builtin chains only) behind: drop
# those that did not exist before up and hold no rule.
nft_tables_cleanup() {
  local before=$1 fam table tag
  command -v nft >/dev/null 2>&1 && [[ -f $before ]] || return 0
  while read -r _ fam table; do
    case "$fam" in ip) tag=ipt4 ;; ip6) tag=ipt6 ;; *) continue ;; esac
    grep -qxF -- "$tag *$table" "$before" && continue
    grep -qxF -- "nft table $fam $table" "$before" && continue
    if [[ -z $(nft list table "$fam" "$table" 2>/dev/null | grep -vE '^[[:space:]]*(table |chain |type |\}|$)') ]]; then
      nft delete table "$fam" "$table" || log "warning: cannot delete nftables table $fam $table"
    fi
  done < <(nft list tables 2>/dev/null)
}

write_cni_config() {
  mkdir -p -- "$STATE/cni/net.d"
  # No default route in pods: host-local hands out only the service range and the node
  # address as routes (the pod range is on-link); ipMasq off, nothing is NATed off the node.
  tpl cni.conflist >"$STATE/cni/net.d/10-lane.conflist"
}

# ---------------------------------------------------------------- PKI (openssl)
# cert NAME CN [O] [SAN] [ext]: an EC key and a certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 o=${3:-} san=${4:-} eku=${5:-clientAuth}
  [[ -f $PKI/$name.crt ]] && return 0
  local subj="/CN=$cn"
  [[ -n $o ]] && subj="/O=$o$subj"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$PKI/$name.ext" \
    -out "$PKI/$name.crt" 2>/dev/null
  rm -f -- "$PKI/$name.csr" "$PKI/$name.ext"
}

kubeconfig() {
  local name=$1 cert=$2 server=${3:-https://$NODE_IP:$API_PORT}
  cat >"$KCFG/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: lane
    cluster:
      server: $server
      certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
  - name: $name
    user:
      client-certificate-data: $(base64 -w0 <"$PKI/$cert.crt")
      client-key-data: $(base64 -w0 <"$PKI/$cert.key")
contexts:
  - name: lane
    context: { cluster: lane, user: $name }
current-context: lane
EOF
  chmod 0600 -- "$KCFG/$name.kubeconfig"
}

pki() {
  mkdir -p -- "$PKI" "$KCFG"
  chmod 0700 -- "$PKI"
  if [[ ! -f $PKI/ca.crt ]]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=lane-cluster-ca" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  cert apiserver kube-apiserver "" \
    "IP:$NODE_IP,IP:$API_SVC_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost" serverAuth
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert admin lane-admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert kube-proxy system:kube-proxy
  cert kubelet-client "system:node:$NODE_NAME" system:nodes
  cert kubelet-serving "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME" serverAuth
  cert argocd lane-argocd system:masters
  if [[ ! -f $PKI/sa.key ]]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
    openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
  kubeconfig admin admin
  kubeconfig controller-manager controller-manager
  kubeconfig scheduler scheduler
  kubeconfig kube-proxy kube-proxy
  kubeconfig kubelet kubelet-client
  kubeconfig argocd argocd
}

# ---------------------------------------------------------------- components
start_etcd() {
  mkdir -p -- "$STATE/etcd"
  chmod 0700 -- "$STATE/etcd"
  start etcd etcd --name lane --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "lane=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 2147483648 --snapshot-count 10000
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_registry() {
  mkdir -p -- "$STATE/registry/data"
  tpl registry.yml >"$STATE/registry/config.yml"
  start registry docker-registry serve "$STATE/registry/config.yml"
  wait_for registry 30 curl -fsS "http://$REGISTRY/v2/"
}

start_apiserver() {
  start kube-apiserver "$STATE/bin/kube-apiserver" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --service-cluster-ip-range "$SVC_CIDR" --service-node-port-range 30000-32767 \
    --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false --event-ttl 1h
  wait_for kube-apiserver 120 curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://$NODE_IP:$API_PORT/readyz"
}

start_controller_manager() {
  start kube-controller-manager "$STATE/bin/kube-controller-manager" \
    --kubeconfig "$KCFG/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$KCFG/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$KCFG/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --controllers '*,-node-ipam-controller' \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --use-service-account-credentials=true --service-cluster-ip-range "$SVC_CIDR"
  wait_for kube-controller-manager 60 curl -fsSk https://127.0.0.1:10257/healthz
}

start_scheduler() {
  start kube-scheduler "$STATE/bin/kube-scheduler" \
    --kubeconfig "$KCFG/scheduler.kubeconfig" \
    --authentication-kubeconfig "$KCFG/scheduler.kubeconfig" \
    --authorization-kubeconfig "$KCFG/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false
  wait_for kube-scheduler 60 curl -fsSk https://127.0.0.1:10259/healthz
}

write_containerd_config() {
  [[ -n $(image_ref pause) ]] || fail containerd "no pause image in $STATE/images.txt"
  mkdir -p -- "$STATE/containerd/certs.d/_default" "$STATE/containerd/certs.d/$REGISTRY" "$RUN/containerd"
  # Every registry without its own entry goes to a loopback port where nothing listens: a
  # public image name fails at once, on this machine.
  tpl hosts-default.toml >"$STATE/containerd/certs.d/_default/hosts.toml"
  tpl hosts-registry.toml >"$STATE/containerd/certs.d/$REGISTRY/hosts.toml"
  tpl containerd.toml >"$STATE/containerd/config.toml"
}

start_containerd() {
  write_containerd_config
  start containerd containerd --config "$STATE/containerd/config.toml"
  wait_for containerd 30 ctr --address "$CTRD_SOCK" version
}

# The kubelet's cgroup root, in every v1 hierarchy (cpuset needs its parent's cpus and mems).
cgroups_up() {
  local h d
  for h in /sys/fs/cgroup/*/; do
    d=$h$CGROUP_ROOT
    [[ -d $d ]] || mkdir -- "$d" 2>/dev/null || continue
    if [[ -f $h/cpuset.cpus && -f $d/cpuset.cpus ]]; then
      [[ -n $(<"$d/cpuset.cpus") ]] || cat -- "$h/cpuset.cpus" >"$d/cpuset.cpus"
      [[ -n $(<"$d/cpuset.mems") ]] || cat -- "$h/cpuset.mems" >"$d/cpuset.mems"
    fi
  done
}

cgroups_down() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [[ -d $h$CGROUP_ROOT ]] || continue
    # Depth first: a cgroup is removed with rmdir once its children are gone.
    find "$h$CGROUP_ROOT" -depth -type d -exec rmdir -- {} + 2>/dev/null || true
  done
}

start_kubelet() {
  cgroups_up
  mkdir -p -- "$STATE/kubelet" "$STATE/pod-logs"
  tpl kubelet.yaml >"$STATE/kubelet/config.yaml"
  start kubelet "$STATE/bin/kubelet" --config "$STATE/kubelet/config.yaml" \
    --kubeconfig "$KCFG/kubelet.kubeconfig" --root-dir "$STATE/kubelet/root" \
    --cert-dir "$STATE/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
  wait_for kubelet 60 curl -fsS http://127.0.0.1:10248/healthz
  local deadline=$((SECONDS + 120))
  until kc get node "$NODE_NAME" >/dev/null 2>&1; do
    running kubelet || fail kubelet "process exited before registering the node"
    ((SECONDS < deadline)) || fail kubelet "node $NODE_NAME did not register in 120s"
    sleep 0.5
  done
  # The pod range lives in the CNI config; the node's spec says the same (node IPAM is off).
  if [[ -z $(kc get node "$NODE_NAME" -o jsonpath='{.spec.podCIDR}') ]]; then
    kc patch node "$NODE_NAME" --type merge -p "{\"spec\":{\"podCIDR\":\"$POD_CIDR\",\"podCIDRs\":[\"$POD_CIDR\"]}}" >/dev/null
  fi
  kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null \
    || fail kubelet "node $NODE_NAME not Ready in 120s"
}

start_kube_proxy() {
  mkdir -p -- "$STATE/kube-proxy"
  tpl kube-proxy.yaml >"$STATE/kube-proxy/config.yaml"
  start kube-proxy "$STATE/bin/kube-proxy" --config "$STATE/kube-proxy/config.yaml"
  wait_for kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
}

render() { # render FILE: substitutes @VARS@
  sed -e "s|@COREDNS_IMAGE@|$(image_ref coredns)|g" -e "s|@DNS_IP@|$DNS_IP|g" \
    -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" -e "s|@ARGOCD_NAMESPACE@|$ARGOCD_NAMESPACE|g" \
    -e "s|@ARGOCD_SECRET_KEY@|$(cat "$STATE/argocd/secretkey" 2>/dev/null)|g" -- "$1"
}

# tpl NAME: cluster/config/NAME with its @VARS@ filled in; an unknown @VAR@ is an error.
tpl() {
  local out
  out=$(sed -e "s|@STATE@|$STATE|g" -e "s|@RUN@|$RUN|g" -e "s|@PKI@|$PKI|g" -e "s|@KCFG@|$KCFG|g" \
    -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@NODE_NAME@|$NODE_NAME|g" -e "s|@POD_CIDR@|$POD_CIDR|g" \
    -e "s|@POD_GW@|$POD_GW|g" -e "s|@SVC_CIDR@|$SVC_CIDR|g" -e "s|@DNS_IP@|$DNS_IP|g" \
    -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" -e "s|@REGISTRY@|$REGISTRY|g" \
    -e "s|@REFUSE_ADDR@|$REFUSE_ADDR|g" -e "s|@CTRD_SOCK@|$CTRD_SOCK|g" \
    -e "s|@PAUSE_IMAGE@|$(image_ref pause)|g" -e "s|@CGROUP_ROOT@|$CGROUP_ROOT|g" \
    -e "s|@BRIDGE_IF@|$BRIDGE_IF|g" -- "$ROOT/cluster/config/$1") || die "cannot read cluster/config/$1"
  if grep -qE '@[A-Z_]+@' <<<"$out"; then
    die "cluster/config/$1: unfilled $(grep -oE '@[A-Z_]+@' <<<"$out" | sort -u | tr '\n' ' ')"
  fi
  printf '%s\n' "$out"
}

addons_dns() {
  render "$ROOT/cluster/manifests/coredns.yaml" | kc apply -f - >>"$LOGS/addons.log" 2>&1 \
    || fail coredns "kubectl apply failed" "$LOGS/addons.log"
}

addons_storage() {
  local src
  go_env
  src=$(mod_dir local-path github.com/rancher/local-path-provisioner)/deploy/local-path-storage.yaml
  [[ -f $src ]] || fail local-path "missing $src"
  # Upstream manifest with local images by digest and the volumes under the state dir.
  sed -e "s|image: rancher/local-path-provisioner:.*|image: $(image_ref local-path-provisioner)|" \
    -e "s|image: busybox\$|image: $(image_ref busybox)|" \
    -e "s|/opt/local-path-provisioner|$STATE/local-path|" -- "$src" >"$STATE/local-path-storage.yaml"
  grep -q "$(image_ref busybox)" "$STATE/local-path-storage.yaml" || fail local-path "busybox image not replaced in $src"
  mkdir -p -- "$STATE/local-path"
  {
    kc apply -f "$STATE/local-path-storage.yaml" \
      && kc annotate --overwrite storageclass local-path storageclass.kubernetes.io/is-default-class=true
  } >>"$LOGS/addons.log" 2>&1 || fail local-path "kubectl apply failed" "$LOGS/addons.log"
}

# pods_ready NS SELECTOR: at least one pod, and every pod not being deleted is Ready. (A
# Deployment's status can still say "available" from before a down; its pods are what count.)
pods_ready() {
  local states
  states=$(kc -n "$1" get pods -l "$2" -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{"|"}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}') || return 1
  states=$(grep -v '^[^|]' <<<"$states" || true)
  [[ -n $states ]] && ! grep -qv '^|True$' <<<"$states"
}

wait_pods() {
  local comp=$1 ns=$2 sel=$3 deadline=$((SECONDS + 180))
  until pods_ready "$ns" "$sel"; do
    if ((SECONDS >= deadline)); then
      kc -n "$ns" describe pods -l "$sel" >>"$LOGS/addons.log" 2>&1 || true
      fail "$comp" "pods ($sel) in $ns not Ready in 180s" "$LOGS/addons.log"
    fi
    sleep 0.5
  done
}

wait_rollouts() {
  wait_pods coredns kube-system k8s-app=kube-dns
  wait_pods local-path local-path-storage app=local-path-provisioner
}

start_argocd() {
  local src
  go_env
  src=$(mod_dir argocd github.com/argoproj/argo-cd/v2)/manifests/crds
  mkdir -p -- "$STATE/argocd"
  [[ -s $STATE/argocd/secretkey ]] || openssl rand -hex 32 >"$STATE/argocd/secretkey"
  {
    # Server-side: the ApplicationSet CRD is too large for the last-applied annotation.
    kc apply --server-side --force-conflicts -f "$src/application-crd.yaml" -f "$src/appproject-crd.yaml" -f "$src/applicationset-crd.yaml" \
      && kc wait --for=condition=Established crd/applications.argoproj.io crd/appprojects.argoproj.io --timeout=60s \
      && render "$ROOT/cluster/manifests/argocd.yaml" | kc apply -f -
  } >>"$LOGS/argocd.log" 2>&1 || fail argocd "applying CRDs and config failed" "$LOGS/argocd.log"
  mkdir -p -- "$STATE/redis" "$STATE/argocd/home" "$STATE/argocd/tmp" "$STATE/argocd/config/ssh" \
    "$STATE/argocd/config/tls" "$STATE/argocd/config/gpg/source" "$STATE/argocd/config/gpg/keys"
  touch "$STATE/argocd/config/ssh/ssh_known_hosts"
  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$STATE/redis" --pidfile "$RUN/redis-server.pid" --daemonize no --protected-mode yes
  wait_for redis 30 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
  local argo_env=(env HOME="$STATE/argocd/home" TMPDIR="$STATE/argocd/tmp"
    PATH="$STATE/bin:/usr/sbin:/usr/bin:/sbin:/bin" ARGOCD_FAKE_IN_CLUSTER=true
    KUBECONFIG="$KCFG/argocd.kubeconfig" ARGOCD_GPG_ENABLED=false
    ARGOCD_SSH_DATA_PATH="$STATE/argocd/config/ssh" ARGOCD_TLS_DATA_PATH="$STATE/argocd/config/tls"
    ARGOCD_GNUPGHOME="$STATE/argocd/config/gpg/keys" ARGOCD_GPG_DATA_PATH="$STATE/argocd/config/gpg/source")
  start argocd-repo-server "${argo_env[@]}" "$STATE/bin/argocd-repo-server" \
    --address 127.0.0.1 --port "$REPO_SERVER_PORT" --disable-tls \
    --metrics-address 127.0.0.1 --metrics-port "$ARGO_REPO_METRICS_PORT" \
    --redis "127.0.0.1:$REDIS_PORT" --loglevel info
  wait_for argocd-repo-server 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$REPO_SERVER_PORT"
  start argocd-application-controller "${argo_env[@]}" "$STATE/bin/argocd-application-controller" \
    --kubeconfig "$KCFG/argocd.kubeconfig" --namespace "$ARGOCD_NAMESPACE" \
    --repo-server "127.0.0.1:$REPO_SERVER_PORT" --repo-server-plaintext \
    --redis "127.0.0.1:$REDIS_PORT" --metrics-port "$ARGO_CONTROLLER_METRICS_PORT" \
    --status-processors 4 --operation-processors 2 --app-resync 10 --loglevel info
  wait_for argocd-application-controller 90 curl -fsS "http://127.0.0.1:$ARGO_CONTROLLER_METRICS_PORT/healthz"
}

# ---------------------------------------------------------------- reports
where() {
  cat <<EOF
what runs where (all on this machine; node address $NODE_IP on interface $DUMMY_IF):
  etcd                       http://127.0.0.1:$ETCD_PORT (peer 127.0.0.1:$ETCD_PEER_PORT)   data $STATE/etcd
  kube-apiserver             https://$NODE_IP:$API_PORT  (service $API_SVC_IP:443)
  kube-controller-manager    https://127.0.0.1:10257
  kube-scheduler             https://127.0.0.1:10259
  registry (distribution)    http://$REGISTRY  data $STATE/registry/data
  containerd                 unix://$CTRD_SOCK  root $STATE/containerd/root
  kubelet                    https://$NODE_IP:10250 (healthz 127.0.0.1:10248)  node $NODE_NAME
  kube-proxy                 iptables mode, NodePorts on $NODE_IP only (healthz 127.0.0.1:10256)
  pod network                bridge $BRIDGE_IF $POD_GW, pods $POD_CIDR, services $SVC_CIDR, no default route
  CoreDNS                    pod, service $DNS_IP:53, zone $CLUSTER_DOMAIN, no forward
  local-path-provisioner     pod, default StorageClass local-path, volumes under $STATE/local-path
  redis                      127.0.0.1:$REDIS_PORT (no persistence)
  argocd-repo-server         127.0.0.1:$REPO_SERVER_PORT (plaintext; kustomize $KUSTOMIZE_VERSION on PATH)
  argocd-application-ctrl    namespace $ARGOCD_NAMESPACE (metrics :$ARGO_CONTROLLER_METRICS_PORT, loopback only by iptables)
  logs                       $LOGS/<component>.log
  admin kubeconfig           $KCFG/admin.kubeconfig
EOF
}

cmd_status() {
  local c pid any=1
  for c in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$c"); then
      printf '%-34s running  pid %s\n' "$c" "$pid"
    else
      printf '%-34s stopped\n' "$c"
      any=0
    fi
  done
  if running kube-apiserver && [[ -x $STATE/bin/kubectl ]]; then
    local ready
    ready=$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
    printf '%-34s %s\n' "node/$NODE_NAME" "Ready=${ready:-unknown}"
    local d
    for d in kube-system/coredns local-path-storage/local-path-provisioner; do
      printf '%-34s %s\n' "deployment/${d#*/}" \
        "$(kc -n "${d%%/*}" get deployment "${d#*/}" -o jsonpath='{.status.readyReplicas}/{.spec.replicas} ready' 2>/dev/null || echo missing)"
    done
  fi
  ((any)) || return 3
}

all_up() {
  local c
  for c in "${COMPONENTS[@]}"; do running "$c" || return 1; done
}

cmd_env() {
  all_up || { log "the cluster is not up (scripts/cluster.sh up)"; exit 3; }
  local kv
  # Shell-quoted (%q): the state dir may be anywhere.
  for kv in \
    "KUBECONFIG=$KCFG/admin.kubeconfig" \
    "API_SERVER=https://$NODE_IP:$API_PORT" \
    "CA_FILE=$PKI/ca.crt" \
    "NODE_NAME=$NODE_NAME" \
    "NODE_IP=$NODE_IP" \
    "POD_CIDR=$POD_CIDR" \
    "SERVICE_CIDR=$SVC_CIDR" \
    "DNS_IP=$DNS_IP" \
    "REGISTRY=$REGISTRY" \
    "ARGOCD_NAMESPACE=$ARGOCD_NAMESPACE" \
    "BIN=$STATE/bin" \
    "CONTAINERD_ADDRESS=$CTRD_SOCK" \
    "BUSYBOX_IMAGE=$(image_ref busybox)" \
    "PAUSE_IMAGE=$(image_ref pause)" \
    "LOGS=$LOGS"; do
    printf 'export LANE_CLUSTER_%s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
}

cmd_up() {
  [[ $(id -u) -eq 0 ]] || die "up needs root"
  if all_up; then
    log "already up"
    cmd_status
    return 0
  fi
  local t_all=$SECONDS
  phase preflight
  ensure_packages
  preflight
  # The machine as found, for down's check: only when nothing of ours is running.
  if ! running etcd && ! running containerd && ! ip link show dev "$DUMMY_IF" >/dev/null 2>&1; then
    mkdir -p -- "$STATE"
    snapshot >"$STATE/snapshot-before-up.txt"
  fi
  phase build
  build_all
  mkdir -p -- "$RUN" "$LOGS"
  phase network
  network_up
  write_cni_config
  phase pki
  pki
  phase etcd
  start_etcd
  phase registry
  start_registry
  phase images
  images
  phase kube-apiserver
  start_apiserver
  phase controller-manager
  start_controller_manager
  phase scheduler
  start_scheduler
  phase containerd
  start_containerd
  phase kubelet
  start_kubelet
  phase kube-proxy
  start_kube_proxy
  phase addons
  : >"$LOGS/addons.log"
  addons_dns
  addons_storage
  wait_rollouts
  phase build-argocd
  build_argocd
  phase argocd
  : >"$LOGS/argocd.log"
  start_argocd
  phase_end
  where
  echo "phase times:"
  printf '  %s\n' "${PHASES[@]}"
  printf '  %-22s %7ss\n' total "$((SECONDS - t_all))"
  printf '%s\n' "${PHASES[@]}" >"$LOGS/phases-$(date -u +%Y%m%dT%H%M%SZ).txt"
  echo "env: eval \"\$(scripts/cluster.sh env)\""
}

cmd_down() {
  local purge=0
  [[ ${1:-} == --purge ]] && purge=1
  [[ $(id -u) -eq 0 ]] || die "down needs root"
  local c t_down=$SECONDS
  # No new pods: stop Argo CD and the controllers first.
  for c in argocd-application-controller argocd-repo-server redis kube-scheduler kube-controller-manager; do
    stop_component "$c"
  done
  # Let the kubelet stop every pod through CRI (CNI DEL frees addresses and network namespaces).
  if running kube-apiserver && running kubelet && running containerd; then
    kc delete pods --all -A --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
    local t0=$SECONDS deadline=$((SECONDS + 45))
    while ((SECONDS < deadline)); do
      [[ -z $(ctr_ tasks ls -q 2>/dev/null) ]] && break
      sleep 0.5
    done
    log "pods stopped through the kubelet in $((SECONDS - t0))s"
  fi
  for c in kube-proxy kubelet; do stop_component "$c"; done
  # Whatever is left in containerd: kill and delete its tasks and containers.
  if running containerd; then
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    sleep 1
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  for c in containerd kube-apiserver registry etcd; do stop_component "$c"; done
  # Stray processes of ours (shims, container processes): by pid, only ours.
  local pid
  for pid in $(stray_pids); do kill -KILL "$pid" 2>/dev/null && log "killed stray pid $pid" || true; done
  # Pod network namespaces: those holding an address of the pod range.
  # Pod network namespaces left behind: containerd's cni-* ones that were not there before up,
  # or any holding an address of the pod range.
  local ns before=$STATE/snapshot-before-up.txt
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    if { [[ $ns == cni-* && -f $before ]] && ! grep -qxF -- "netns $ns" "$before"; } \
      || ip netns exec "$ns" ip -o -4 addr show 2>/dev/null | grep -qF -- " ${POD_CIDR%.*}."; then
      ip netns delete "$ns" 2>/dev/null && log "removed netns $ns" || true
    fi
  done
  # Mounts under our directories and leftover pod netns files, deepest first.
  local m
  while read -r m; do
    umount -- "$m" 2>/dev/null || umount -l -- "$m" 2>/dev/null || log "warning: cannot unmount $m"
  done < <(awk '{print $2}' /proc/mounts | grep -E "^($STATE|$RUN|/run/containerd)/" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-)
  if [[ -x $STATE/bin/kube-proxy ]]; then
    "$STATE/bin/kube-proxy" --cleanup >"$LOGS/kube-proxy-cleanup.log" 2>&1 || true
  fi
  iptables_cleanup
  nft_tables_cleanup "$before"
  ip link del "$BRIDGE_IF" 2>/dev/null || true
  ip link del "$DUMMY_IF" 2>/dev/null || true
  if [[ -f $RUN/sysctl.orig ]]; then
    local key val
    while read -r key val; do sysctl_set "$key" "$val"; done <"$RUN/sysctl.orig"
  fi
  cgroups_down
  # Directories the kubelet and containerd create outside ours, when they were not there before.
  # libcni's result cache (/var/lib/cni/results/<network>-<id>-<if>): only our network's files.
  find /var/lib/cni/results -maxdepth 1 -name 'lane-*' -delete 2>/dev/null || true
  for c in /run/containerd /run/netns /var/log/containers /var/log/pods /var/lib/cni/results /var/lib/cni; do
    [[ -e $c ]] || continue
    if [[ ! -f $before ]] || ! grep -qxF -- "path $c" "$before"; then
      if [[ $c == /var/log/containers ]]; then
        find "$c" -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null || true
      fi
      rmdir -- "$c" 2>/dev/null || { [[ $c == /run/containerd ]] && rm -rf -- "$c/s"; rmdir -- "$c" 2>/dev/null; } || log "warning: $c is not empty; left in place"
    fi
  done
  rm -rf -- "$RUN"
  local rc=0
  if [[ -f $before ]]; then
    local diffs
    diffs=$(diff <(grep -v '^process ' "$before" | sort) <(snapshot | grep -v '^process ' | sort) || true)
    local strays
    strays=$(stray_pids)
    if [[ -n $diffs || -n $strays ]]; then
      echo "cluster: down: the machine differs from before up:" >&2
      [[ -n $diffs ]] && echo "$diffs" >&2
      [[ -n $strays ]] && echo "processes left: $strays" >&2
      rc=1
    else
      log "down in $((SECONDS - t_down))s: the machine is as it was before up (links, netns, iptables, mounts, sysctls, paths, cgroups, processes)"
    fi
  else
    log "down: done (no snapshot from before up to compare with)"
  fi
  if ((purge)); then
    rm -rf -- "$STATE"
    log "purged $STATE (cache $CACHE kept)"
  fi
  return "$rc"
}

# One up/down/build at a time (fd 9; daemons do not inherit it).
lock() {
  mkdir -p -- "$CACHE"
  exec 9>"$CACHE/cluster.lock"
  flock -w 900 9 || die "another scripts/cluster.sh holds $CACHE/cluster.lock"
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in up | down | build) lock ;; esac
  case "$cmd" in
    up) cmd_up "$@" ;;
    build) ensure_packages; build_all; build_argocd; log "built: $(ls "$STATE/bin" | tr '\n' ' ')" ;;
    down) cmd_down "$@" ;;
    env) cmd_env ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
