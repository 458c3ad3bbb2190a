#!/usr/bin/env bash
# Regenerate hack/cluster/kubernetes/go.mod for the KUBERNETES_VERSION in versions.env.
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0
# and replaces them with ./staging/... paths that exist only in its own repository. Our module
# replaces each of them with its published v0.X.Y instead; the list is read from the tag's own
# go.mod so it is always complete. Then `go mod tidy` pins everything in go.sum.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
staging_version="v0.${KUBERNETES_VERSION#v1.}"
upstream_mod="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
{
  echo "// Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet and kube-proxy from k8s.io/kubernetes."
  echo "// k8s.io/kubernetes replaces its staging modules with paths inside its own repository, which"
  echo "// do not exist in the module cache; here every staging module points at its published"
  echo "// ${staging_version} (tag kubernetes-${KUBERNETES_VERSION#v}) instead. Regenerate with hack/cluster/gen-kubernetes-gomod.sh."
  echo "module axiom.dev/hack/cluster/kubernetes"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
  echo
  echo "tool ("
  for cmd in kube-apiserver kube-controller-manager kube-proxy kube-scheduler kubectl kubelet; do
    printf '\tk8s.io/kubernetes/cmd/%s\n' "$cmd"
  done
  echo ")"
  echo
  echo "replace ("
  grep -E '=> \./staging/' "$upstream_mod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
} > "$here/kubernetes/go.mod"
rm -f "$here/kubernetes/go.sum"
(cd "$here/kubernetes" && go mod tidy)
echo "wrote $here/kubernetes/go.mod ($(grep -c ' => ' "$here/kubernetes/go.mod") replace lines)"
