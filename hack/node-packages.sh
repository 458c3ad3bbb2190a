#!/usr/bin/env bash
# Install, from Debian's packages, what the real node and `make images` need and Go cannot build:
# runc (the OCI runtime containerd's shim calls), the CNI plugins (bridge, host-local, loopback in
# /usr/lib/cni), iptables and conntrack (kube-proxy's iptables mode), debootstrap (the images'
# base), Docker's engine (docker.io: builds the images from the Dockerfiles) and gcc (the pause
# binary). Only what is missing is installed; nothing is started or enabled (the devcluster runs
# every daemon itself, with its own state directories).
#
# Usage: bash hack/node-packages.sh [--check]   (--check: list what is missing, exit 1 if any)
set -euo pipefail

# command or file -> Debian package
declare -A wanted=(
  [/usr/sbin/runc]=runc
  [/usr/lib/cni/bridge]=containernetworking-plugins
  [/usr/sbin/iptables]=iptables
  [/usr/sbin/conntrack]=conntrack
  [/usr/sbin/debootstrap]=debootstrap
  [/usr/sbin/dockerd]=docker.io
  [/usr/bin/gcc]=gcc
  [/usr/include/stdio.h]=libc6-dev
)
missing=()
for path in "${!wanted[@]}"; do
  [[ -e "$path" ]] || missing+=("${wanted[$path]}")
done
if ((${#missing[@]} == 0)); then
  echo "[node-packages] all present"
  exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
  echo "[node-packages] missing: ${missing[*]}"
  exit 1
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "[node-packages] missing ${missing[*]} and not root: install them with apt-get" >&2
  exit 1
fi
echo "[node-packages] installing ${missing[*]}"
# policy-rc.d 101: Debian's maintainer scripts must not start docker.io's or containerd's
# services (the devcluster starts its own, on its own addresses).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
