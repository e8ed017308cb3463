#!/usr/bin/env bash
# Installs felhom-agent on a host: the release binary, a config, the state dir, the repository,
# the TLS identity (`felhom-agent init`) and the systemd unit, then enables it.
#
# Safe to run again: the binary and the unit are updated, but an existing config is kept and the
# key is never replaced (rotate it by hand with `felhom-agent init --force`).
#
#   sudo bash scripts/install-agent.sh --binary .build/release/felhom-agent [--data-dir DIR]...
#
#   --binary PATH     the felhom-agent to install (default: .build/release/felhom-agent)
#   --data-dir DIR    a directory holding guests' data dirs; the unit may write there (repeatable;
#                     default /srv/felhom)
#   --listen ADDR     the HTTPS address for a new config (default 0.0.0.0:8443)
#   --root DIR        install into DIR instead of / (for tests and image builds); nothing is
#                     enabled with systemctl then, only linked as `systemctl enable` would
set -euo pipefail

root=""
binary=.build/release/felhom-agent
listen=0.0.0.0:8443
data_dirs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=${2%/}; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --data-dir) data_dirs+=("$2"); shift 2 ;;
    --listen) listen=$2; shift 2 ;;
    *) echo "install-agent.sh: unknown argument $1 (see the header of this script)" >&2; exit 64 ;;
  esac
done
[ ${#data_dirs[@]} -gt 0 ] || data_dirs=(/srv/felhom)
for dir in "${data_dirs[@]}"; do
  case "$dir" in /*) ;; *) echo "install-agent.sh: --data-dir must be absolute: $dir" >&2; exit 64 ;; esac
done
[ -x "$binary" ] || { echo "install-agent.sh: no executable felhom-agent at $binary; build it with swift build -c release" >&2; exit 66; }
here=$(cd "$(dirname "$0")/.." && pwd)

log() { printf '[install-agent] %s\n' "$*"; }

state=/var/lib/felhom-agent
repository=/var/lib/felhom-backups
config=/etc/felhom/agent.yaml

install -d -m 0755 "$root/usr/local/bin" "$root/etc/felhom" "$root/etc/systemd/system"
install -d -m 0700 "$root$state" "$root$repository"
install -m 0755 "$binary" "$root/usr/local/bin/felhom-agent.new"
mv -f "$root/usr/local/bin/felhom-agent.new" "$root/usr/local/bin/felhom-agent"
log "installed $root/usr/local/bin/felhom-agent ($("$root/usr/local/bin/felhom-agent" --version))"

if [ -e "$root$config" ]; then
  log "kept the existing $root$config"
else
  (
    umask 077
    cat >"$root$config" <<YAML
listen: $listen
state_dir: $state
repository: $repository
retention: { keep_last: 7, keep_pre_rollback: 3 }
YAML
  )
  log "wrote $root$config"
fi

if [ -e "$root$state/tls/agent-key.pem" ]; then
  log "kept the existing TLS key in $root$state/tls"
else
  # init reads the state dir from a config; under --root that is the rooted one.
  init_config=$(mktemp)
  trap 'rm -f "$init_config"' EXIT
  sed -e "s|^state_dir: .*|state_dir: $root$state|" -e "s|^repository: .*|repository: $root$repository|" "$root$config" >"$init_config"
  "$root/usr/local/bin/felhom-agent" init --config "$init_config"
fi

install -m 0644 "$here/deploy/agent/felhom-agent.service" "$root/etc/systemd/system/felhom-agent.service"
dropin="$root/etc/systemd/system/felhom-agent.service.d"
install -d -m 0755 "$dropin"
{
  echo "# Written by install-agent.sh: the directories that hold guests' data dirs."
  echo "[Service]"
  for dir in "${data_dirs[@]}"; do echo "ReadWritePaths=$dir"; done
} >"$dropin/data-dirs.conf"
log "unit $root/etc/systemd/system/felhom-agent.service; data dirs: ${data_dirs[*]}"

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now felhom-agent.service
  log "enabled and started felhom-agent.service"
else
  install -d -m 0755 "$root/etc/systemd/system/multi-user.target.wants"
  ln -sfn /etc/systemd/system/felhom-agent.service "$root/etc/systemd/system/multi-user.target.wants/felhom-agent.service"
  log "linked felhom-agent.service into multi-user.target.wants (systemd is not running here, so it was not started)"
fi
