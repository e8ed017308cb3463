#!/usr/bin/env bash
# Watch quiesce cycles on embedded defaults: a local felhom-agent (directory
# backend, SQLite, TLS on loopback) and a felhom-controller over copies of the
# compose-fixtures stacks. Ctrl-C stops both; every stack is brought back up
# before the controller exits, and the demo's own stacks are removed after.
#
#   bash scripts/demo.sh              # after scripts/setup.sh, as root
#   DEMO_DIR=/tmp/felhom-demo KEEP=1 bash scripts/demo.sh   # keep the stacks and state afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DEMO_DIR=${DEMO_DIR:-/tmp/felhom-demo}
KEEP=${KEEP:-0}
log() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }

docker info >/dev/null 2>&1 || { echo "docker is not running; run scripts/setup.sh first" >&2; exit 1; }
log "building felhom-agent and felhom-controller"
swift build --product felhom-agent >/dev/null
swift build --product felhom-controller >/dev/null
BIN=$(swift build --show-bin-path)
AGENT=$BIN/felhom-agent
CONTROLLER=$BIN/felhom-controller

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/stacks"
for stack in webapp pgapp sidecar traefik; do
  cp -r "compose-fixtures/$stack" "$DEMO_DIR/stacks/$stack"
done
# Some data, so the backup's progress has something to show.
mkdir -p "$DEMO_DIR/stacks/webapp/data"
head -c 300000000 /dev/urandom >"$DEMO_DIR/stacks/webapp/data/uploads.bin"

cat >"$DEMO_DIR/agent.yaml" <<YAML
listen: 127.0.0.1:18443
state_dir: $DEMO_DIR/agent
repository: $DEMO_DIR/agent/backups
backend: directory
retention: { keep_last: 3 }
# A backup every minute is the demo's point; the field default (48 a day) would stop it within the hour.
limits: { backups_per_day: 100000 }
YAML
pin=$("$AGENT" init --config "$DEMO_DIR/agent.yaml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pin"])')
"$AGENT" guest add demo --data-dir "$DEMO_DIR/stacks" --interval-seconds 60 --config "$DEMO_DIR/agent.yaml" --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$DEMO_DIR/agent-token"
chmod 600 "$DEMO_DIR/agent-token"
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DEMO_DIR/api-token"
chmod 600 "$DEMO_DIR/api-token"

cat >"$DEMO_DIR/controller.yaml" <<YAML
stacks_dir: $DEMO_DIR/stacks
state_dir: $DEMO_DIR/controller
agent: { url: https://127.0.0.1:18443, token_file: $DEMO_DIR/agent-token, pin_sha256: "$pin" }
quiesce: { enabled: true, poll_interval_seconds: 5, status_poll_interval_seconds: 0.5, max_quiesce_seconds: 300 }
api: { listen: 127.0.0.1:18080, token_file: $DEMO_DIR/api-token }
YAML

cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  if [ "$KEEP" = 1 ]; then
    log "kept: $DEMO_DIR (stacks still up)"
  else
    log "removing the demo's stacks"
    for stack in webapp pgapp sidecar traefik; do "$CONTROLLER" stacks down "$stack" --force --config "$DEMO_DIR/controller.yaml" >/dev/null 2>&1 || true; done
  fi
}
trap cleanup EXIT

log "bringing up webapp, pgapp, sidecar and the protected traefik"
for stack in webapp pgapp sidecar traefik; do "$CONTROLLER" stacks up "$stack" --config "$DEMO_DIR/controller.yaml"; done
"$CONTROLLER" stacks list --config "$DEMO_DIR/controller.yaml"

FELHOM_LOG_LEVEL=info "$AGENT" run --config "$DEMO_DIR/agent.yaml" 2>"$DEMO_DIR/agent.log" &
agent_pid=$!
for _ in $(seq 100); do grep -q '] listening' "$DEMO_DIR/agent.log" 2>/dev/null && break; sleep 0.1; done
log "agent on https://127.0.0.1:18443 (log: $DEMO_DIR/agent.log); customer API on http://127.0.0.1:18080"
log "a backup is due now (never backed up), then every 60 s. Ctrl-C to stop."
log "in another shell: $CONTROLLER cycles --config $DEMO_DIR/controller.yaml"
FELHOM_LOG_LEVEL=info "$CONTROLLER" run --config "$DEMO_DIR/controller.yaml" 2>&1 \
  | grep --line-buffered -E 'marker|stopping stack|backup (started|progress|due)|stack (restarted|up again)|cycle finished|recovered|listening|shutting|stopped' || true
log "controller stopped"
"$CONTROLLER" stacks list --config "$DEMO_DIR/controller.yaml"
"$CONTROLLER" cycles --config "$DEMO_DIR/controller.yaml"
