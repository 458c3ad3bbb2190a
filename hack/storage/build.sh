#!/usr/bin/env bash
# Build (or reuse) the storage servers the model-source tests start on 127.0.0.1:
# versitygw (Apache-2.0, S3 API over a posix directory) for s3:// and the CNCF distribution
# registry (Apache-2.0) for oci://, and the ORAS client (Apache-2.0) for the interop tests. Same shape as hack/cluster/build.sh: one small Go module
# per tool pins every dependency through its go.sum; binaries land in
# ${AXIOM_CACHE_DIR:-~/.cache/axiom}/bin/storage-<versions>_r<rev>/, built under a temp name
# and renamed, so a second run builds nothing and an interrupted one leaves nothing half-made.
#
# Usage: bash hack/storage/build.sh [--print-dir]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

key="storage-versitygw-${VERSITYGW_VERSION}_registry-${REGISTRY_VERSION}_oras-${ORAS_VERSION}_r${BUILD_REVISION}"
out="${AXIOM_CACHE_DIR:-$HOME/.cache/axiom}/bin/$key"
if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
exec 9>"$out/.lock"
if ! flock -n 9; then
  echo "[storage-build] another build.sh holds $out/.lock; waiting for it" >&2
  flock 9
fi
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -trimpath"
export CGO_ENABLED=0

log() { printf '[storage-build %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# build_tool <module dir> <package> <binary name> <ldflags>
build_tool() {
  local dir="$1" pkg="$2" name="$3" ldflags="$4"
  if [[ -x "$out/$name" ]]; then
    log "cached: $name"
    return 0
  fi
  local tmp start=$SECONDS
  tmp="$(mktemp -d "$out/.build.XXXXXX")"
  log "building $name (module hack/storage/$dir)"
  (cd "$here/$dir" && go build -ldflags "-s -w $ldflags" -o "$tmp/$name" "$pkg")
  mv -f "$tmp/$name" "$out/$name"
  rm -rf "$tmp"
  log "built $name in $((SECONDS - start)) s"
}

build_tool versitygw github.com/versity/versitygw/cmd/versitygw versitygw \
  "-X main.Version=${VERSITYGW_VERSION}"
build_tool registry github.com/distribution/distribution/v3/cmd/registry registry \
  "-X github.com/distribution/distribution/v3/version.version=${REGISTRY_VERSION}"
build_tool oras oras.land/oras/cmd/oras oras \
  "-X oras.land/oras/internal/version.Version=${ORAS_VERSION#v} -X oras.land/oras/internal/version.BuildMetadata="
log "storage servers in $out"
