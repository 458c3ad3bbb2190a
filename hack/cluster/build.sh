#!/usr/bin/env bash
# Build (or reuse) the local control plane's binaries from their Go modules:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, helm and kubectl; and
# Prometheus and the real node's binaries, each into a directory of their own (see versions.env).
#
# Why from Go modules: these machines have no Docker (so no kind) and no download site for
# release binaries; the Go module proxy is reachable, and `go build` inside a small module of our
# own per tool (hack/cluster/<tool>/go.mod) pins every dependency through the committed go.sum.
#
# Cache: ${AXIOM_CACHE_DIR:-~/.cache/axiom}/bin/<key>/ where <key> comes from versions.env, so a
# second run builds nothing. Each binary is built into a temp name and renamed, so an interrupted
# build never leaves a truncated binary that later runs would trust. A `.complete` stamp is
# written when all seven exist.
#
# Usage: bash hack/cluster/build.sh [--print-dir | --print-node-dir]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_r${BUILD_REVISION}"
cache_root="${AXIOM_CACHE_DIR:-$HOME/.cache/axiom}"
out="$cache_root/bin/$key"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$out"
  exit 0
fi
if [[ "${1:-}" == "--print-node-dir" ]]; then
  echo "$cache_root/bin/node-k8s-${KUBERNETES_VERSION}_containerd-${CONTAINERD_VERSION}_r${NODE_BUILD_REVISION}"
  exit 0
fi

mkdir -p "$out"
# Several shells (helpers, CI, a test run) may call this at once: one builds, the others wait
# and then find everything cached, instead of compiling the same packages twice on 2 cores.
exec 9>"$out/.lock"
if ! flock -n 9; then
  echo "[cluster-build] another build.sh holds $out/.lock; waiting for it" >&2
  flock 9
fi
# No toolchain downloads (only the module proxy is reachable); no VCS stamping (the modules are
# not git checkouts of ours).
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -trimpath"
export CGO_ENABLED=0

k8s_plain="${KUBERNETES_VERSION#v}"
k8s_major="${k8s_plain%%.*}"
k8s_minor_patch="${k8s_plain#*.}"
k8s_minor="${k8s_minor_patch%%.*}"

log() { printf '[cluster-build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

missing() {
  local name
  for name in "$@"; do
    [[ -x "$out/$name" ]] || return 0
  done
  return 1
}

# build_tool <module dir> <ldflags> <package> <binary name> [<package> <binary name> ...]
build_tool() {
  local dir="$1" ldflags="$2"
  shift 2
  local -a pkgs=() names=()
  while (($#)); do
    pkgs+=("$1")
    names+=("$2")
    shift 2
  done
  if ! missing "${names[@]}"; then
    log "cached: ${names[*]}"
    return 0
  fi
  local tmp
  tmp="$(mktemp -d "$out/.build.XXXXXX")"
  local start=$SECONDS
  log "building ${names[*]} (module hack/cluster/$dir)"
  # One `go build` for several main packages shares the compile work between them.
  # BUILD_TAGS (set by the caller for one call) selects optional parts, e.g. Prometheus' SDs.
  (cd "$here/$dir" && go build -tags "${BUILD_TAGS:-}" -ldflags "-s -w $ldflags" -o "$tmp/" "${pkgs[@]}")
  local i
  for i in "${!pkgs[@]}"; do
    local built="$tmp/$(basename "${pkgs[$i]}")"
    # etcd's main package path ends in "v3", so the output is named after that
    [[ -x "$built" ]] || built="$tmp/$(ls "$tmp" | head -n1)"
    mv -f "$built" "$out/${names[$i]}"
  done
  rm -rf "$tmp"
  log "built ${names[*]} in $((SECONDS - start)) s"
}

total_start=$SECONDS

build_tool etcd "" go.etcd.io/etcd/server/v3 etcd

build_tool kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
  sigs.k8s.io/kwok/cmd/kwok kwok

k8s_ldflags="-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}"
k8s_ldflags+=" -X k8s.io/component-base/version.gitMajor=${k8s_major}"
k8s_ldflags+=" -X k8s.io/component-base/version.gitMinor=${k8s_minor}"
k8s_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitMajor=${k8s_major}"
k8s_ldflags+=" -X k8s.io/client-go/pkg/version.gitMinor=${k8s_minor}"
build_tool kubernetes "$k8s_ldflags" \
  k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler kube-scheduler

helm_ldflags="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
helm_ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${k8s_major}"
helm_ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${k8s_minor}"
build_tool helm "$helm_ldflags" helm.sh/helm/v3/cmd/helm helm

# kubectl at the cluster's own version (a kubectl elsewhere on PATH may be several minors off).
# Built last, from the same module, so it reuses the compiled packages of the step above.
build_tool kubernetes "$k8s_ldflags" k8s.io/kubernetes/cmd/kubectl kubectl

# Prometheus, in its own cache directory. Only the Kubernetes service discovery is compiled
# in (remove_all_sd + enable_kubernetes_sd): a third of the build, and nothing the tests use
# is left out. No builtinassets tag: the web UI's assets are not in the Go module (they come
# from an npm build), and the HTTP API the operator queries does not need them.
core_out="$out"
out="$cache_root/bin/prometheus-${PROMETHEUS_VERSION}_r${BUILD_REVISION}"
mkdir -p "$out"
prom_ldflags="-X github.com/prometheus/common/version.Version=${PROMETHEUS_VERSION#v}"
BUILD_TAGS="remove_all_sd,enable_kubernetes_sd" build_tool prometheus "$prom_ldflags" \
  github.com/prometheus/prometheus/cmd/prometheus prometheus
out="$core_out"

# The real node, in its own cache directory (see versions.env). kubelet and kube-proxy are tools
# of the same module as the apiserver and get the same ldflags, so the packages they share with it
# come from Go's build cache. containerd v2 is a module of its own; the tags leave out snapshotters
# the node never uses (btrfs, devmapper, zfs, aufs need cgo or kernel features; overlayfs and
# native remain). pause is the k8s.io/kubernetes module's own pause.c, compiled static.
# NODE=0 skips this part (machines that only run the control-plane tiers).
if [[ "${NODE:-1}" != 0 ]]; then
  node_out="$(bash "$here/build.sh" --print-node-dir)"
  out="$node_out"
  mkdir -p "$out"
  build_tool kubernetes "$k8s_ldflags" \
    k8s.io/kubernetes/cmd/kubelet kubelet \
    k8s.io/kubernetes/cmd/kube-proxy kube-proxy
  ctrd_ldflags="-X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}"
  BUILD_TAGS="no_btrfs,no_devmapper,no_zfs,no_aufs" build_tool containerd "$ctrd_ldflags" \
    github.com/containerd/containerd/v2/cmd/containerd containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr ctr
  if missing pause; then
    pause_src="$(cd "$here/kubernetes" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
    command -v gcc >/dev/null || { log "gcc not found: cannot build pause (apt-get install gcc libc6-dev)"; exit 1; }
    gcc -Os -Wall -Werror -static -DVERSION="${KUBERNETES_VERSION}-axiom" -o "$out/.pause.tmp" "$pause_src"
    mv -f "$out/.pause.tmp" "$out/pause"
    log "built pause"
  else
    log "cached: pause"
  fi
  echo "key=$(basename "$node_out")" > "$out/.complete"
  out="$core_out"
fi

{
  echo "key=$key"
  echo "go=$(go env GOVERSION)"
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$out/.complete"
log "all binaries in $out ($((SECONDS - total_start)) s this run)"
