#!/usr/bin/env bash
# `make images` on a machine without a container registry: build the base image with debootstrap,
# then the operator and runtime images from docker/*.Dockerfile on it, and save each as a tarball
# that the real node's containerd imports (axiom_devcluster.realnode) and `docker load` accepts.
#
# - Base: `debootstrap --variant=minbase bookworm` from the Debian mirror /etc/apt already uses,
#   python3.11 + python3-venv + ca-certificates in a chroot, `python3 -m venv /usr/local` (so
#   /usr/local/bin/python and pip exist as in the official python images), `docker import`. Its
#   tag is a hash of its inputs (this script's base section, the suite, the packages), so it is
#   rebuilt only when they change.
# - Build-time trust: where TLS to the package index is intercepted by a CA only the host trusts,
#   pip in the builder stage needs the host's bundle. It goes into a derived *builder* base only
#   (BUILDER_IMAGE); the final stage is FROM the plain base (PYTHON_IMAGE), so no shipped image
#   trusts it.
# - Docker engine: DOCKER_HOST if it answers, else Debian's dockerd started here as its own
#   process (own data root in the cache, own exec root and socket) with no bridge and no iptables
#   rules (--bridge=none --iptables=false): builds use --network host, so the engine creates no
#   interface and changes no firewall rule; it is stopped on exit.
# - pause: the node's sandbox image, the static pause binary built by hack/cluster/build.sh.
#
# Output: ${AXIOM_CACHE_DIR:-~/.cache/axiom}/images/{axiom-operator,axiom-runtime,axiom-pause}_<tag>.tar
# Usage: bash hack/images/build.sh [TAG]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${1:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml")}"
cache="${AXIOM_CACHE_DIR:-$HOME/.cache/axiom}/images"
mkdir -p "$cache"
log() { printf '[images %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

exec 9>"$cache/.lock"
flock 9

# ---- base (everything between here and "end of base" is hashed into its tag) ----
suite=bookworm
base_packages="python3.11 python3-venv ca-certificates"
make_base_rootfs() { # <dir>
  local root="$1" mirror
  mirror="$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
  [[ -n "$mirror" ]] || mirror="$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)"
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2
  chroot "$root" apt-get install -y -qq --no-install-recommends $base_packages >&2
  chroot "$root" python3 -m venv /usr/local
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log
}
# ---- end of base ----
base_hash="$(sed -n '/^# ---- base/,/^# ---- end of base/p' "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
base_image="axiom-base:py3.11-$suite-$base_hash"
builder_image="axiom-base:py3.11-$suite-$base_hash-builder"

# ---- the engine ----
docker=/usr/bin/docker
[[ -x "$docker" ]] || docker="$(command -v docker)"
engine_pid=""
stop_engine() {
  if [[ -n "$engine_pid" ]]; then
    kill "$engine_pid" 2>/dev/null || true
    wait "$engine_pid" 2>/dev/null || true
    engine_pid=""
    # The containerd that dockerd started exits just after it: wait, then clean its files.
    for _ in $(seq 50); do pgrep -f "$run/exec/containerd" >/dev/null || break; sleep 0.2; done
    # dockerd leaves its default network namespace mounted under the exec root.
    { grep -o " $run/[^ ]*" /proc/self/mounts || true; } | sort -r | xargs -r -n1 umount -l
    rm -rf "$run"
  fi
}
trap stop_engine EXIT
run=/run/axiom-images
if [[ -z "${DOCKER_HOST:-}" ]] || ! "$docker" version >/dev/null 2>&1; then
  mkdir -p "$run"
  export DOCKER_HOST="unix://$run/docker.sock"
  log "starting dockerd (data root $cache/docker, no bridge, no iptables)"
  dockerd --data-root "$cache/docker" --exec-root "$run/exec" -H "$DOCKER_HOST" \
    --pidfile "$run/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    --ip-masq=false --ip-forward=false >"$cache/dockerd.log" 2>&1 &
  engine_pid=$!
  for _ in $(seq 100); do "$docker" version >/dev/null 2>&1 && break; sleep 0.3; done
  "$docker" version >/dev/null
fi
export DOCKER_BUILDKIT=0

has_image() { "$docker" image inspect "$1" >/dev/null 2>&1; }

start=$SECONDS
if ! has_image "$base_image"; then
  if [[ ! -s "$cache/base-$base_hash.tar" ]]; then
    log "debootstrap $suite + $base_packages (hash $base_hash)"
    root="$(mktemp -d "$cache/.rootfs.XXXXXX")"
    make_base_rootfs "$root"
    tar -C "$root" --numeric-owner -cf "$cache/.base.tmp" .
    rm -rf "$root"
    mv -f "$cache/.base.tmp" "$cache/base-$base_hash.tar"
  fi
  "$docker" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' "$cache/base-$base_hash.tar" "$base_image" >/dev/null
  log "base $base_image in $((SECONDS - start)) s"
else
  log "cached: $base_image"
fi

ctx="$(mktemp -d)"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
printf 'FROM %s\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n' "$base_image" \
  | "$docker" build -q -t "$builder_image" -f - "$ctx" >/dev/null
rm -rf "$ctx"

for name in runtime operator; do
  t=$SECONDS
  "$docker" build --network host -q \
    --build-arg PYTHON_IMAGE="$base_image" --build-arg BUILDER_IMAGE="$builder_image" \
    --build-arg VERSION="$tag" -f "$repo/docker/$name.Dockerfile" -t "axiom-$name:$tag" "$repo" >/dev/null
  size="$("$docker" image inspect --format '{{.Size}}' "axiom-$name:$tag")"
  log "axiom-$name:$tag built in $((SECONDS - t)) s, $((size / 1000000)) MB"
done

pause_bin="$(bash "$repo/hack/cluster/build.sh" --print-node-dir)/pause"
if [[ -x "$pause_bin" ]]; then
  ctx="$(mktemp -d)"
  cp "$pause_bin" "$ctx/pause"
  tar -C "$ctx" -c pause | "$docker" import --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535' - "axiom-pause:$tag" >/dev/null
  rm -rf "$ctx"
else
  log "no pause binary at $pause_bin (run hack/cluster/build.sh): axiom-pause not built"
fi

for name in operator runtime pause; do
  has_image "axiom-$name:$tag" || continue
  id="$("$docker" image inspect --format '{{.Id}}' "axiom-$name:$tag")"
  out="$cache/axiom-${name}_$tag.tar"
  if [[ -s "$out" && "$(cat "$out.id" 2>/dev/null)" == "$id" ]]; then
    continue
  fi
  "$docker" save "axiom-$name:$tag" -o "$out.tmp"
  mv -f "$out.tmp" "$out"
  echo "$id" > "$out.id"
done
log "images in $cache ($((SECONDS - start)) s this run)"
