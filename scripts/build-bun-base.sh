#!/usr/bin/env bash
# Assembles the Bun runtime base image with buildah (vfs storage, chroot isolation), without
# a Docker engine or a public container registry: the pinned Bun binary from the npm registry
# (scripts/install-bun.sh), the glibc libraries it links (copied from this machine), a POSIX
# shell for Tekton step scripts, env (package bins start `#!/usr/bin/env node`), CA
# certificates, a non-root user 65532 and a writable /tmp.
# The same image runs the project's CI checks (deploy/ci-checks.json) and is the FROM of the
# sample services (samples/agentrun/apps/*/Dockerfile).
#
# Reproducible: file times and the created time are fixed (--timestamp 0, OCI format, which
# carries no build-container id), so the same Bun binary and the same host libraries give
# the same digest on every build.
#
# usage: scripts/build-bun-base.sh [--tag NAME] [--push REF] [--tls-verify BOOL]
#   --tag     local image name (default localhost/lane-bun:<bun version>)
#   --push    push to this reference, e.g. 127.0.0.1:5000/lane/bun:1.4.5
# Storage: BUILDAH_ROOT / BUILDAH_RUNROOT (default: under ${TMPDIR:-/tmp}/lane-buildah).
# Prints one JSON line on stdout:
#   {"image":…, "pushed":…, "digest":…, "pinned":"<repo>@<digest>", "sizeBytes":…, "bunVersion":…}
set -euo pipefail

cd "$(dirname "$0")/.."
tag=""
push=""
tls_verify="true"
while (($#)); do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --push) push=$2; shift 2 ;;
    --tls-verify) tls_verify=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "build-bun-base: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "build-bun-base: $*" >&2; }
bun_bin=$(scripts/install-bun.sh)
bun_version=$("$bun_bin" --version)
[[ -n $tag ]] || tag="localhost/lane-bun:$bun_version"

root=${BUILDAH_ROOT:-${TMPDIR:-/tmp}/lane-buildah/root}
runroot=${BUILDAH_RUNROOT:-${TMPDIR:-/tmp}/lane-buildah/run}
bah() { buildah --storage-driver vfs --root "$root" --runroot "$runroot" "$@"; }

ctr=$(bah from --quiet scratch)
trap 'bah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(bah mount "$ctr")

# Copy an ELF file and every shared library it needs (ldd closure), libraries under their
# own paths (the dynamic loader's path is fixed in the binary).
copy_with_libs() {
  local src=$1 dst=$2
  install -D -m 0755 "$src" "$mnt$dst"
  ldd "$src" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | while read -r lib; do
    [[ -e $mnt$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$mnt$lib"
  done
}

copy_with_libs "$bun_bin" /usr/local/bin/bun
ln -s bun "$mnt/usr/local/bin/bunx"
copy_with_libs "$(readlink -f /bin/sh)" /bin/sh
# Package bins start `#!/usr/bin/env node`; `bun run --bun` answers for node, env must exist.
copy_with_libs "$(readlink -f /usr/bin/env)" /usr/bin/env
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$mnt/tmp" "$mnt/home/bun" "$mnt/app"
printf 'root:x:0:0:root:/root:/sbin/nologin\nbun:x:65532:65532:bun:/home/bun:/sbin/nologin\n' > "$mnt/etc/passwd"
printf 'root:x:0:\nbun:x:65532:\n' > "$mnt/etc/group"
chmod 1777 "$mnt/tmp"
chown 65532:65532 "$mnt/home/bun"

size=$(du -sb "$mnt" | cut -f1)
bah umount "$ctr" >/dev/null

bah config --user 65532:65532 --workingdir /app \
  --env PATH=/usr/local/bin:/usr/bin:/bin \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --entrypoint '["/usr/local/bin/bun"]' --cmd '' \
  --label org.opencontainers.image.title=lane-bun \
  --label "org.opencontainers.image.description=Bun $bun_version runtime (npm @oven/bun-linux-x64) with a POSIX shell" \
  --label "org.opencontainers.image.version=$bun_version" \
  "$ctr"
# Prove the runtime and the shell work from the image's own root filesystem, as its user.
in_image=$(bah run --isolation chroot "$ctr" -- /usr/local/bin/bun --version)
[[ $in_image == "$bun_version" ]] || { log "bun in the image says '$in_image'"; exit 1; }
bah run --isolation chroot "$ctr" -- /usr/local/bin/bun -e 'if (process.getuid() !== 65532) process.exit(1)'
bah run --isolation chroot "$ctr" -- /bin/sh -c 'tab=$(printf "\t"); [ -n "$tab" ]'
bah run --isolation chroot "$ctr" -- /usr/bin/env /usr/local/bin/bun --version >/dev/null
bah commit --quiet --timestamp 0 --format oci "$ctr" "$tag" >/dev/null
log "committed $tag ($size bytes uncompressed)"
digest=""
pinned=""
if [[ -n $push ]]; then
  dfile=$(mktemp)
  bah push --quiet --tls-verify="$tls_verify" --digestfile "$dfile" "$tag" "docker://$push" >&2
  digest=$(cat "$dfile"); rm -f "$dfile"
  repo=${push%@*}
  last=${repo##*/}
  [[ $last == *:* ]] && repo=${repo%:*}
  pinned="$repo@$digest"
  log "pushed $push ($pinned)"
fi
printf '{"image":"%s","pushed":"%s","digest":"%s","pinned":"%s","sizeBytes":%s,"bunVersion":"%s"}\n' \
  "$tag" "$push" "$digest" "$pinned" "$size" "$bun_version"
