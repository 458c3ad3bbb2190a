#!/usr/bin/env bash
# End-to-end on a real (kind) cluster with real images: the path a platform team takes.
#
#   create a kind cluster -> build both images (make images) and load them -> helm install
#   -> trusted keys + certificate Secrets -> apply the example model -> predict
#   -> canary 1.0.0 -> 2.0.0 with steps, promoted -> rollback to 1.0.0 -> delete the cluster
#
# Needs Docker (a running daemon), kind, kubectl, helm (PATH, or the pinned one that
# `make cluster-binaries` builds) and the project's venv (`make setup`). Run from anywhere:
#   bash tests/e2e/kind/run.sh            # KEEP_CLUSTER=1 to leave the cluster for debugging
# tests/e2e/kind/test_kind_e2e.py runs it, and skips with the reason when Docker is absent.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-axiom-e2e-$$}"
tag="${IMAGE_TAG:-e2e}"
ns_operator=axiom-system
ns_models=models
local_port="${LOCAL_PORT:-18080}"
work="$(mktemp -d)"
axiom="$repo/.venv/bin/axiom"

log() { printf '[kind-e2e %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

helm_bin() {
  if command -v helm >/dev/null; then command -v helm; return; fi
  local dir
  dir="$(bash "$repo/hack/cluster/build.sh" --print-dir)"
  [[ -x "$dir/helm" ]] || die "helm not found: install it or run make cluster-binaries"
  echo "$dir/helm"
}

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (docker info failed)"
[[ -x "$axiom" ]] || die "$axiom missing: run make setup"
helm="$(helm_bin)"

port_forward_pid=""
cleanup() {
  [[ -n "$port_forward_pid" ]] && kill "$port_forward_pid" 2>/dev/null || true
  if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then
    log "deleting kind cluster $cluster"
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  else
    log "keeping kind cluster $cluster (kind delete cluster --name $cluster)"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

log "creating kind cluster $cluster"
kind create cluster --name "$cluster" --wait 180s
kubectl config use-context "kind-$cluster" >/dev/null

log "building images (tag $tag) and loading them into the cluster"
make -C "$repo" images IMAGE_TAG="$tag"
kind load docker-image --name "$cluster" "axiom-operator:$tag" "axiom-runtime:$tag"

log "helm install"
"$helm" install axiom "$repo/charts/axiom-operator" \
  --namespace "$ns_operator" --create-namespace \
  --set image.tag="$tag" --set image.pullPolicy=Never --set runtime.image.tag="$tag" \
  --wait --timeout 5m
kubectl -n "$ns_operator" rollout status deployment/axiom-axiom-operator --timeout=120s

log "trusted keys, certificates and packages in namespace $ns_models"
kubectl create namespace "$ns_models"
kubectl -n "$ns_models" create secret generic axiom-trusted-keys \
  --from-file="$repo/examples/keys/trusted/"
for version in 1.0.0 2.0.0; do
  slug="${version//./-}"
  kubectl -n "$ns_models" create secret generic "digits-$slug-cert" \
    --from-file=certificate.json="$repo/examples/digits/digits-$version.cert.json"
  kubectl -n "$ns_models" create configmap "digits-$slug" \
    --from-file=model.axiom="$repo/examples/digits/digits-$version.axiom"
done

model_yaml() {  # model_yaml VERSION
  local version="$1" slug="${1//./-}" sha
  sha="$(sha256sum "$repo/examples/digits/digits-$version.axiom" | cut -d' ' -f1)"
  cat <<YAML
apiVersion: axiom.dev/v1alpha1
kind: AxiomModel
metadata: {name: digits, namespace: $ns_models}
spec:
  version: $version
  model: {uri: "configmap://digits-$slug/model.axiom", sha256: "$sha"}
  certificate: {secretRef: {name: digits-$slug-cert}, policy: Enforce}
  replicas: 2
  rollout:
    steps: [{weight: 20, pause: 20s}, {weight: 50, pause: 20s}]
    analysis: {interval: 10s, minRequests: 5, maxErrorRate: 0.05}
    autoRollback: true
YAML
}

wait_stable() {  # wait_stable VERSION TIMEOUT_SECONDS
  local want="$1" deadline=$((SECONDS + $2)) got=""
  while ((SECONDS < deadline)); do
    got="$(kubectl -n "$ns_models" get axiommodel digits -o jsonpath='{.status.stableVersion}' 2>/dev/null || true)"
    ready="$(kubectl -n "$ns_models" get axiommodel digits \
      -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
    [[ "$got" == "$want" && "$ready" == True ]] && return 0
    send_traffic 10 >/dev/null || true
    sleep 2
  done
  kubectl -n "$ns_models" describe axiommodel digits >&2 || true
  die "stable version is '$got', wanted $want"
}

start_port_forward() {
  [[ -n "$port_forward_pid" ]] && kill "$port_forward_pid" 2>/dev/null || true
  kubectl -n "$ns_models" port-forward service/digits "$local_port:8080" >/dev/null 2>&1 &
  port_forward_pid=$!
  sleep 3
}

send_traffic() {  # send_traffic N: N predictions, prints the X-Axiom-Version of each answer
  local i
  for ((i = 0; i < $1; i++)); do
    curl -fsS -o /dev/null -D - -H 'Content-Type: application/json' -H "X-Request-ID: e2e-$i" \
      --data @"$repo/examples/digits/sample-digit-3.json" \
      "http://127.0.0.1:$local_port/predict" | tr -d '\r' | sed -n 's/^[Xx]-[Aa]xiom-[Vv]ersion: //p'
  done
}

log "apply digits 1.0.0"
model_yaml 1.0.0 | kubectl apply -f -
kubectl -n "$ns_models" wait axiommodel/digits --for=condition=Ready --timeout=300s
wait_stable 1.0.0 60

log "predict"
start_port_forward
versions="$(send_traffic 5 | sort -u)"
[[ "$versions" == "1.0.0" ]] || die "answers came from '$versions', expected 1.0.0"

log "canary: 1.0.0 -> 2.0.0"
model_yaml 2.0.0 | kubectl apply -f -
wait_stable 2.0.0 600
start_port_forward   # the Service now selects 2.0.0's pods
versions="$(send_traffic 5 | sort -u)"
[[ "$versions" == "2.0.0" ]] || die "after promotion answers came from '$versions'"

log "rollback to the previous version"
kubectl -n "$ns_models" annotate axiommodel digits axiom.dev/rollback=previous
wait_stable 1.0.0 300
start_port_forward
versions="$(send_traffic 5 | sort -u)"
[[ "$versions" == "1.0.0" ]] || die "after rollback answers came from '$versions'"

log "helm uninstall"
"$helm" uninstall axiom --namespace "$ns_operator" --wait
log "PASSED"
