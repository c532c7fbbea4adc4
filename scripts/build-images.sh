#!/usr/bin/env bash
# Builds the container images `gatehouse` (control plane, dashboard embedded) and
# `gatehouse-agent` from deploy/container/Containerfile with whichever of docker,
# podman or buildah is present (and working), then prints their sizes.
#
# Usage: scripts/build-images.sh [--tool docker|podman|buildah] [--base IMAGE]
#                                [--prebuilt DIR] [--tag TAG]
#   --base IMAGE    the Debian-family image libraries come from (default debian:bookworm-slim)
#   --prebuilt DIR  take `gatehouse` and `gatehouse-agent` from DIR (e.g. target/release,
#                   built on the same Debian release as the base) instead of compiling
#                   them in the builder stage (which needs the rust:1-bookworm image)
#   --tag TAG       image tag (default: the workspace version)
# Environment: BUILDAH_ISOLATION (default chroot: works where containers cannot run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
containerfile="$root/deploy/container/Containerfile"

die() { printf 'build-images: error: %s\n' "$*" >&2; exit 2; }

tool="" base="" prebuilt="" tag=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tool) tool="${2:?}"; shift 2 ;;
    --base) base="${2:?}"; shift 2 ;;
    --prebuilt) prebuilt="${2:?}"; shift 2 ;;
    --tag) tag="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ -n $tag ]] || tag="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)"

if [[ -z $tool ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then tool=docker
  elif command -v podman >/dev/null; then tool=podman
  elif command -v buildah >/dev/null; then tool=buildah
  else die "none of docker (with a running daemon), podman or buildah is installed"
  fi
fi
case "$tool" in
  docker) build=(docker build) ;;
  # The docker format keeps HEALTHCHECK (the OCI format has no such field).
  podman) build=(podman build --format docker --layers) ;;
  buildah) build=(buildah build --format docker --layers --isolation "${BUILDAH_ISOLATION:-chroot}") ;;
  *) die "--tool must be docker, podman or buildah" ;;
esac

args=(-f "$containerfile")
[[ -n $base ]] && args+=(--build-arg "BASE=$base")
if [[ -n $prebuilt ]]; then
  for bin in gatehouse gatehouse-agent; do
    [[ -x $prebuilt/$bin ]] || die "$prebuilt/$bin is missing: cargo build --release -p gatehouse-cli -p gatehouse-agent"
  done
  # A small context: the two binaries and the files the Containerfile copies.
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' EXIT
  cp "$prebuilt/gatehouse" "$prebuilt/gatehouse-agent" "$context/"
  mkdir -p "$context/deploy/container"
  cp "$root/deploy/container/gatehouse.toml" "$root/deploy/container/make-rootfs.sh" "$context/deploy/container/"
  args+=(--build-arg BINARIES=prebuilt)
else
  context="$root"
fi

for target in gatehouse gatehouse-agent; do
  printf 'build-images: %s:%s with %s\n' "$target" "$tag" "$tool"
  "${build[@]}" "${args[@]}" --target "$target" -t "localhost/$target:$tag" "$context"
done

printf '\nbuild-images: sizes\n'
for target in gatehouse gatehouse-agent; do
  case "$tool" in
    buildah) size="$(buildah images --format '{{.Size}}' "localhost/$target:$tag")" ;;
    *) size="$("$tool" image inspect --format '{{.Size}}' "localhost/$target:$tag" | numfmt --to=si --suffix=B)" ;;
  esac
  printf '  %-32s %s\n' "localhost/$target:$tag" "$size"
done
