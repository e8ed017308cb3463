#!/usr/bin/env bash
# App downtime per quiesce cycle: felhom vs a naive shell script, 5 stacks,
# with 0 and with 1 GiB of data. Prints figures, asserts nothing.
#
#   bash Benchmarks/quiesce/run.sh        # as root, after scripts/setup.sh
#
# naive: for each stack `docker compose stop`; then `tar -c | zstd -1` of the
# stacks; then for each stack `docker compose start`.
# felhom: the release felhom-controller and felhom-agent, one quiesce cycle.
# A stack's downtime runs from the start of its stop to the end of its start.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-/var/tmp/felhom-quiesce-bench}
STACKS=(qb1 qb2 qb3 qb4 qb5)

swift build -c release --product felhom-agent >/dev/null
swift build -c release --product felhom-controller >/dev/null
BIN=$(swift build -c release --show-bin-path)
now_ms() { date +%s%3N; }

cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null || true
  for s in "${STACKS[@]}"; do docker compose -p "$s" down -t 0 >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# wait_for_line FILE TEXT SECONDS: fails the benchmark, with the file's tail, when TEXT never shows.
wait_for_line() {
  for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "benchmark: '$2' did not appear in $1 within $3 s" >&2
  tail -n 20 "$1" >&2
  exit 1
}

run_case() {
  local data_mib=$1
  rm -rf "$WORK"; mkdir -p "$WORK/stacks"
  for s in "${STACKS[@]}"; do
    cp -r compose-fixtures/webapp "$WORK/stacks/$s"
    mkdir -p "$WORK/stacks/$s/data"
    if [ "$data_mib" -gt 0 ]; then head -c $((data_mib * 1048576 / ${#STACKS[@]})) /dev/urandom >"$WORK/stacks/$s/data/blob.bin"; fi
    (cd "$WORK/stacks/$s" && docker compose -p "$s" up -d --wait --wait-timeout 240 >/dev/null)
  done

  # naive
  declare -A down_at up_at
  for s in "${STACKS[@]}"; do
    down_at[$s]=$(now_ms)
    (cd "$WORK/stacks/$s" && docker compose -p "$s" stop >/dev/null 2>&1)
  done
  tar -c -f - -C "$WORK/stacks" . | zstd -1 -q -f -o "$WORK/naive.tar.zst"
  sync "$WORK/naive.tar.zst"
  for s in "${STACKS[@]}"; do
    (cd "$WORK/stacks/$s" && docker compose -p "$s" start >/dev/null 2>&1)
    up_at[$s]=$(now_ms)
  done
  naive=""
  for s in "${STACKS[@]}"; do naive+="$s=$(( ${up_at[$s]} - ${down_at[$s]} )) "; done
  rm -f "$WORK/naive.tar.zst"

  # felhom
  cat >"$WORK/agent.yaml" <<YAML
listen: 127.0.0.1:18843
state_dir: $WORK/agent
repository: $WORK/agent/backups
YAML
  pin=$("$BIN/felhom-agent" init --config "$WORK/agent.yaml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pin"])')
  "$BIN/felhom-agent" guest add bench --data-dir "$WORK/stacks" --config "$WORK/agent.yaml" --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$WORK/agent-token"
  echo "bench-api-token" >"$WORK/api-token"
  chmod 600 "$WORK/agent-token" "$WORK/api-token"
  cat >"$WORK/controller.yaml" <<YAML
stacks_dir: $WORK/stacks
state_dir: $WORK/controller
agent: { url: https://127.0.0.1:18843, token_file: $WORK/agent-token, pin_sha256: "$pin" }
quiesce: { enabled: true, poll_interval_seconds: 1, status_poll_interval_seconds: 0.2, max_quiesce_seconds: 600 }
api: { listen: 127.0.0.1:0, token_file: $WORK/api-token }
YAML
  "$BIN/felhom-agent" run --config "$WORK/agent.yaml" 2>"$WORK/agent.log" &
  agent_pid=$!
  wait_for_line "$WORK/agent.log" '] listening' 60
  FELHOM_LOG_LEVEL=info "$BIN/felhom-controller" run --config "$WORK/controller.yaml" 2>"$WORK/controller.log" &
  controller_pid=$!
  wait_for_line "$WORK/controller.log" 'quiesce cycle finished' 600
  kill "$controller_pid"; wait "$controller_pid" 2>/dev/null || true
  kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""
  felhom=$("$BIN/felhom-controller" cycles --json --config "$WORK/controller.yaml" \
    | python3 -c 'import json,sys; c=json.load(sys.stdin)[0]; print(" ".join(f"{k}={v}" for k,v in sorted(c["downtime_ms"].items())))')

  python3 - "$data_mib" "$naive" "$felhom" <<'PY'
import sys
data, naive, felhom = sys.argv[1], dict(p.split("=") for p in sys.argv[2].split()), dict(p.split("=") for p in sys.argv[3].split())
print(f"\n== 5 stacks, {data} MiB of data: downtime in ms")
print(f"{'stack':6} {'naive':>8} {'felhom':>8} {'felhom/naive':>13}")
for stack in sorted(naive):
    n, f = int(naive[stack]), int(felhom[stack])
    print(f"{stack:6} {n:8d} {f:8d} {f / n:13.2f}")
tn, tf = sum(map(int, naive.values())), sum(map(int, felhom.values()))
print(f"{'total':6} {tn:8d} {tf:8d} {tf / tn:13.2f}")
PY
  for s in "${STACKS[@]}"; do docker compose -p "$s" down -t 0 >/dev/null 2>&1 || true; done
}

run_case 0
run_case 1024
