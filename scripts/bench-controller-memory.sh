#!/usr/bin/env bash
# Benchmark, not a test: the controller container's idle memory next to the goal of
# 30 MiB or less, the image's size, and the host agent's idle RSS. Deploys the image
# from scripts/build-controller-image.sh with deploy/controller/compose.yaml over an
# empty stacks dir, with a release agent on loopback, waits until both are idle, and
# prints the figures. Needs root and scripts/setup.sh done.
#
#   IDLE_SECONDS=N   how long both run idle before the reading (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."

idle=${IDLE_SECONDS:-60}
image=$(bash scripts/build-controller-image.sh)
swift build -c release --product felhom-agent >&2
agent_bin="$(swift build -c release --show-bin-path)/felhom-agent"

work=$(mktemp -d /tmp/felhom-bench-memory.XXXXXX)
agent_pid=""
# Its own project name: a guest's real felhom-controller stack is never replaced or its volume removed.
compose() { docker compose --project-name "felhom-bench-$$" --project-directory "$work/stacks/felhom-controller" "$@"; }
cleanup() {
  compose down --volumes --timeout 0 >/dev/null 2>&1 || true
  [ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
agent_port=$(free_port)
api_port=$(free_port)
mkdir -p "$work/stacks/felhom-controller" "$work/etc" "$work/state"
cat >"$work/agent.yaml" <<YAML
listen: 127.0.0.1:$agent_port
state_dir: $work/agent-state
repository: $work/repository
backend: directory
YAML
pin=$("$agent_bin" init --json --config "$work/agent.yaml" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pin"])')
"$agent_bin" guest add guest --data-dir "$work/stacks" --json --config "$work/agent.yaml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"], end="")' >"$work/etc/agent-token"
# A guest never backed up is due at once: the controller's first cycle (of no app stacks)
# runs before the reading, and the idle wait follows it.
"$agent_bin" run --config "$work/agent.yaml" 2>"$work/agent.log" &
agent_pid=$!

head -c 32 /dev/urandom | base64 | tr -d '\n' >"$work/etc/api-token"
chown 10001:10001 "$work/etc/agent-token" "$work/etc/api-token" "$work/state"
chmod 0600 "$work/etc/agent-token" "$work/etc/api-token"
chmod 0700 "$work/state"
cat >"$work/etc/controller.yaml" <<YAML
stacks_dir: $work/stacks
state_dir: /var/lib/felhom-controller
agent: { url: "https://127.0.0.1:$agent_port", token_file: /etc/felhom/agent-token, pin_sha256: "$pin" }
api: { listen: 127.0.0.1:$api_port, token_file: /etc/felhom/api-token }
YAML
cp deploy/controller/compose.yaml "$work/stacks/felhom-controller/"
cat >"$work/stacks/felhom-controller/.env" <<ENV
FELHOM_VERSION=${image#*:}
FELHOM_STACKS_DIR=$work/stacks
DOCKER_GID=$(stat -c %g /var/run/docker.sock)
FELHOM_STATE=$work/state
FELHOM_CONFIG_DIR=$work/etc
ENV
compose up -d >&2
container=$(compose ps -q controller)
healthy=false
for _ in $(seq 240); do
  if [ "$(docker inspect --format '{{.State.Health.Status}}' "$container")" = healthy ]; then healthy=true; break; fi
  sleep 1
done
$healthy || { compose logs >&2; echo "the controller never became healthy; nothing measured" >&2; exit 1; }
echo "[bench] controller healthy; idle for ${idle} s" >&2
sleep "$idle"

init_pid=$(docker inspect --format '{{.State.Pid}}' "$container")
controller_pid=$(cat "/proc/$init_pid/task/$init_pid/children" | awk '{print $1}')
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }
cgroup=$(docker stats --no-stream --format '{{.MemUsage}}' "$container" | awk -F' / ' '{print $1}')
controller_rss=$(rss_kib "$controller_pid")
# Where it goes: heap and stacks, against pages of files (the binary's code and data, libraries),
# which are clean, shared with the page cache, and given back under memory pressure.
anonymous=$(awk '/^Anonymous:/ {print $2}' "/proc/$controller_pid/smaps_rollup")
binary_pages=$(awk '/^[0-9a-f]+-/ {name = $6} /^Rss:/ && name ~ /felhom-controller$/ {sum += $2} END {print sum + 0}' "/proc/$controller_pid/smaps")
tini_rss=$(rss_kib "$init_pid")
agent_rss=$(rss_kib "$agent_pid")
size=$(docker image inspect --format '{{.Size}}' "$image")

printf '\n%-44s | %s\n' "after ${idle} s idle" "figure"
printf '%-44s-|-%s\n' "--------------------------------------------" "--------------------------"
printf '%-44s | %s (goal: 30 MiB or less)\n' "controller process RSS (felhom-controller run)" "$(mib "$controller_rss")"
printf '%-44s | %s\n' "  of which anonymous (heap, stacks)" "$(mib "$anonymous")"
printf '%-44s | %s\n' "  of which the binary's own mapped pages" "$(mib "$binary_pages")"
printf '%-44s | %s\n' "tini RSS" "$(mib "$tini_rss")"
printf '%-44s | %s\n' "controller container, cgroup (docker stats)" "$cgroup"
printf '%-44s | %s\n' "agent process RSS (release, one guest)" "$(mib "$agent_rss")"
printf '%-44s | %s\n' "image $image" "$(awk -v b="$size" 'BEGIN {printf "%.0f MB", b / 1000000}')"
