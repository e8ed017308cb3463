#!/usr/bin/env bash
# Builds the controller's image, felhom/controller:<version>, with no image registry
# (debootstrap still fetches packages from the Debian mirror in the machine's apt sources):
#   1. the release binary, with the Swift runtime linked in (--static-swift-stdlib);
#   2. a Debian bookworm root made with debootstrap that holds the binary's runtime
#      libraries and tini, imported once as felhom/controller-base:bookworm;
#   3. deploy/controller/Dockerfile on that base, with the docker CLI and the compose
#      v2 plugin copied from this host's installed packages.
# Safe to run again: each step is skipped or cheap when its result is current. The base is
# made once; `docker image rm felhom/controller-base:bookworm` makes the next run refresh its
# packages (libcurl's security updates among them).
# Prints the image's tag on its last line. Needs root (debootstrap) and scripts/setup.sh done.
#
#   --online   build FROM Debian's own image instead (needs a registry)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[controller-image] %s\n' "$*" >&2; }

BASE_IMAGE=felhom/controller-base:bookworm
online=false
case "${1:-}" in
  --online) online=true ;;
  '') ;;
  *) echo "usage: $0 [--online]" >&2; exit 64 ;;
esac

log "building the release binary (a clean build takes several minutes on 2 cores)"
swift build -c release --static-swift-stdlib --product felhom-controller >&2
binary="$(swift build -c release --show-bin-path)/felhom-controller"
version=$("$binary" --version)

# The docker CLI from Debian's docker.io, not a newer client that may sit first on PATH:
# the image must hold what the package installed.
docker_cli=$(dpkg -L docker.io 2>/dev/null | grep -x '/usr/bin/docker' || true)
[ -n "$docker_cli" ] || { echo "docker.io's /usr/bin/docker is not installed; run scripts/setup.sh" >&2; exit 1; }
compose_plugin=""
for dir in /usr/local/lib/docker/cli-plugins /usr/lib/docker/cli-plugins /usr/libexec/docker/cli-plugins "${HOME:-/root}/.docker/cli-plugins"; do
  if [ -x "$dir/docker-compose" ]; then compose_plugin="$dir/docker-compose"; break; fi
done
[ -n "$compose_plugin" ] || { echo "no docker compose v2 plugin found; run scripts/setup.sh" >&2; exit 1; }

build_args=()
if ! $online; then
  if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "making $BASE_IMAGE with debootstrap (about a minute)"
    mirror=$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true) \
      | grep -oE '^(URIs:|deb) +https?://[^ ]+' | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    root=$(mktemp -d /var/tmp/felhom-controller-base.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include=libcurl4,libsqlite3-0,ca-certificates,tini bookworm "$root" "$mirror" \
      >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
    # What a container never reads: package caches, docs, man pages and locales.
    rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
      "$root"/usr/share/locale/* "$root"/usr/share/info/*
    tar -C "$root" -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root" "$root.log"
    trap - EXIT
  fi
  build_args=(--build-arg "BASE=$BASE_IMAGE")
fi

context=.build/controller-image
rm -rf "$context"
mkdir -p "$context"
cp deploy/controller/Dockerfile "$context/"
cp "$binary" "$context/felhom-controller"
# 137 MB unstripped; backtraces then show addresses, which the build's unstripped copy can map back.
strip "$context/felhom-controller" 2>/dev/null || true
cp "$docker_cli" "$context/docker"
cp "$compose_plugin" "$context/docker-compose"

tag="felhom/controller:$version"
log "building $tag"
# The classic builder: the engine here is 20.10 and no buildx plugin is installed.
DOCKER_BUILDKIT=0 docker build --quiet "${build_args[@]}" --tag "$tag" "$context" >/dev/null
log "built $tag, $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1000000}')"
echo "$tag"
