#!/usr/bin/env bash
# Assembles the lane task image with buildah (vfs storage, chroot isolation) from a locally
# built binary — the same final image the Dockerfile produces (lane, git + ssh, a POSIX shell
# with the utilities the Task scripts use, CA bundle,
# non-root user 65532, OCI labels), for machines without a Docker engine.
#
# usage: scripts/build-image.sh [--binary PATH] [--tag NAME] [--push REF] [--tls-verify BOOL]
#                               [--label KEY=VALUE]...
#   --binary   the lane binary (default: the static musl release build, else target/release/lane);
#              a dynamically linked binary gets its shared libraries copied in beside it
#   --tag      local image name (default localhost/lane:dev)
#   --push     push to this reference, e.g. 127.0.0.1:5000/lane/lane:<commit>
#   --label    extra OCI config labels (repeatable), e.g. org.opencontainers.image.revision=<sha>
# Storage: BUILDAH_ROOT / BUILDAH_RUNROOT (default: under ${TMPDIR:-/tmp}/lane-buildah).
# Prints one JSON line on stdout: {"image":…, "digest":…, "sizeBytes":…, "version":…}.
set -euo pipefail

cd "$(dirname "$0")/.."
binary=""
tag="localhost/lane:dev"
push=""
tls_verify="true"
labels=()
while (($#)); do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --push) push=$2; shift 2 ;;
    --tls-verify) tls_verify=$2; shift 2 ;;
    --label) labels+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [[ -z $binary ]]; then
  for b in target/x86_64-unknown-linux-musl/release/lane target/release/lane; do
    [[ -x $b ]] && { binary=$b; break; }
  done
fi
[[ -n $binary && -x $binary ]] || { echo "build-image: no lane binary; build one (cargo build --release) or pass --binary" >&2; exit 2; }

root=${BUILDAH_ROOT:-${TMPDIR:-/tmp}/lane-buildah/root}
runroot=${BUILDAH_RUNROOT:-${TMPDIR:-/tmp}/lane-buildah/run}
bah() { buildah --storage-driver vfs --root "$root" --runroot "$runroot" "$@"; }
log() { echo "build-image: $*" >&2; }

ctr=$(bah from --quiet scratch)
trap 'bah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(bah mount "$ctr")

# Copy a file and, for ELF files, every shared library it needs (ldd closure).
copy_with_libs() {
  local src=$1 dst=$2
  install -D -m 0755 "$src" "$mnt$dst"
  if ldd "$src" >/dev/null 2>&1; then
    ldd "$src" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | while read -r lib; do
      [[ -e $mnt$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$mnt$lib"
    done
  fi
}

log "binary $binary"
copy_with_libs "$binary" /usr/local/bin/lane
# git (Debian's, whose exec path is /usr/lib/git-core) with the helpers fetch/push need.
git_bin=/usr/bin/git
[[ -x $git_bin ]] || git_bin=$(command -v git)
copy_with_libs "$git_bin" /usr/bin/git
mkdir -p "$mnt/usr/lib/git-core"
for helper in git-receive-pack git-upload-pack git-upload-archive; do
  ln -sf ../../bin/git "$mnt/usr/lib/git-core/$helper"
done
if [[ -x /usr/lib/git-core/git-remote-http ]]; then
  copy_with_libs /usr/lib/git-core/git-remote-http /usr/lib/git-core/git-remote-http
  ln -sf git-remote-http "$mnt/usr/lib/git-core/git-remote-https"
fi
if command -v ssh >/dev/null 2>&1; then
  copy_with_libs "$(command -v ssh)" /usr/bin/ssh
fi
# ssh-keygen signs GitOps commits (promote --signing-key) and checks them (verify
# --allowed-signers): src/git/sign.rs.
if command -v ssh-keygen >/dev/null 2>&1; then
  copy_with_libs "$(command -v ssh-keygen)" /usr/bin/ssh-keygen
fi
# A POSIX shell and the few utilities the Tekton step scripts call (Task scripts are
# `#!/bin/sh`; the Dockerfile's Alpine base has them through busybox). A missing one stops a
# step with exit 127 on a cluster: tests/suite/tekton.rs compares this list with the scripts.
copy_with_libs "$(readlink -f /bin/sh)" /bin/sh
for tool in cat chmod cp env grep id mkdir mktemp rm tr wc ls mv; do
  path=$(command -v "$tool" 2>/dev/null) || { log "this machine has no $tool for the image"; exit 1; }
  copy_with_libs "$(readlink -f "$path")" "/usr/bin/$tool"
done
# CA bundle (rustls reads SSL_CERT_FILE; git/curl read the same file).
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
# Non-root user, a writable home and /tmp.
mkdir -p "$mnt/etc" "$mnt/tmp" "$mnt/home/lane"
printf 'root:x:0:0:root:/root:/sbin/nologin\nlane:x:65532:65532:lane:/home/lane:/sbin/nologin\n' > "$mnt/etc/passwd"
printf 'root:x:0:\nlane:x:65532:\n' > "$mnt/etc/group"
chmod 1777 "$mnt/tmp"
chown 65532:65532 "$mnt/home/lane"

# Prove the binary runs from the image's own root filesystem before committing (a container
# runtime provides /dev; the chroot check gets a temporary /dev/null).
mkdir -p "$mnt/dev"
mknod -m 666 "$mnt/dev/null" c 1 3 2>/dev/null || true
version=$(chroot "$mnt" /usr/local/bin/lane --version)
chroot "$mnt" /usr/bin/git --version >/dev/null
chroot "$mnt" /bin/sh -c 'mkdir -p /tmp/check && rm -r /tmp/check' || { log "the image's shell does not work"; exit 1; }
rm -f "$mnt/dev/null"
log "in image: $version"
size=$(du -sb "$mnt" | cut -f1)
bah umount "$ctr" >/dev/null

label_args=(
  --label org.opencontainers.image.title=lane
  --label "org.opencontainers.image.description=Version-lane CI/CD task image"
  --label org.opencontainers.image.licenses=Apache-2.0
)
for l in "${labels[@]}"; do label_args+=(--label "$l"); done
bah config --user 65532:65532 --workingdir /home/lane \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --entrypoint '["/usr/local/bin/lane"]' --cmd --help "${label_args[@]}" "$ctr"
bah commit --quiet --format docker "$ctr" "$tag" >/dev/null
log "committed $tag ($size bytes uncompressed)"
digest=""
if [[ -n $push ]]; then
  dfile=$(mktemp)
  bah push --quiet --tls-verify="$tls_verify" --digestfile "$dfile" "$tag" "docker://$push" >&2
  digest=$(cat "$dfile"); rm -f "$dfile"
  log "pushed $push@$digest"
fi
printf '{"image":"%s","pushed":"%s","digest":"%s","sizeBytes":%s,"version":"%s"}\n' \
  "$tag" "$push" "$digest" "$size" "$version"
