#!/usr/bin/env bash
# App downtime per backup: felhom (prepare, then a short window) against the naive script, on the
# same 5 stacks in one run, with each stack's downtime taken from `docker events` for both: from
# its first container's `die` to its last container's `start`. Prints figures, asserts nothing.
#
#   bash Benchmarks/quiesce/run.sh              # every case below; as root, after scripts/setup.sh
#   bash Benchmarks/quiesce/run.sh ext4:1024    # one case: FILESYSTEM:MIB, or ext4:files for 100,000 small files
#
# naive: for each stack `docker compose stop`; then `tar -c | zstd -1` of the stacks; then for
# each stack `docker compose start`.
# felhom: the release felhom-controller and felhom-agent, one quiesce cycle.
# ext4 cases run in $WORK (on the root file system here); xfs and btrfs ones on a loop file system.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-/var/tmp/felhom-quiesce-bench}
STACKS=(qb1 qb2 qb3 qb4 qb5)
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(ext4:1024 ext4:4096 ext4:16384 xfs:4096 btrfs:4096 ext4:files)

swift build -c release --product felhom-agent >/dev/null
swift build -c release --product felhom-controller >/dev/null
BIN=$(swift build -c release --show-bin-path)
now_ms() { date +%s%3N; }

cleanup() {
  [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null || true
  [ -n "${controller_pid:-}" ] && kill "$controller_pid" 2>/dev/null || true
  for s in "${STACKS[@]}"; do docker compose -p "$s" down -t 0 >/dev/null 2>&1 || true; done
  mountpoint -q "$WORK/mnt" 2>/dev/null && umount "$WORK/mnt" || true
}
trap cleanup EXIT

# wait_for_line FILE TEXT SECONDS: fails the benchmark, with the file's tail, when TEXT never shows.
wait_for_line() {
  for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "benchmark: '$2' did not appear in $1 within $3 s" >&2
  tail -n 20 "$1" >&2
  exit 1
}

# downtime SINCE UNTIL: "stack=ms ..." from docker's die and start events in that interval.
downtime() {
  docker events --since "$1" --until "$2" --filter type=container --filter event=die --filter event=start --format '{{json .}}' \
    | python3 -c '
import json, sys
first_die, last_start = {}, {}
for line in sys.stdin:
    event = json.loads(line)
    project = event["Actor"]["Attributes"].get("com.docker.compose.project")
    at = event["timeNano"] // 1_000_000
    if event["Action"] == "die":
        first_die[project] = min(first_die.get(project, at), at)
    elif project in first_die:
        last_start[project] = max(last_start.get(project, at), at)
print(" ".join(f"{p}={last_start[p] - first_die[p]}" for p in sorted(first_die) if p in last_start))'
}

# make_data ROOT MIB|files: the stacks' data: MIB of incompressible data spread over the stacks, or 100,000 small files.
make_data() {
  for s in "${STACKS[@]}"; do
    cp -r compose-fixtures/webapp "$1/$s"
    mkdir -p "$1/$s/data"
  done
  if [ "$2" = files ]; then
    python3 - "$1/${STACKS[0]}/data/small" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/{d:03d}", exist_ok=True)
    for f in range(1000):
        with open(f"{root}/{d:03d}/{f:04d}.txt", "wb") as out:
            out.write(os.urandom(512))
PY
  elif [ "$2" -gt 0 ]; then
    for s in "${STACKS[@]}"; do
      head -c $(($2 * 1048576 / ${#STACKS[@]})) /dev/urandom >"$1/$s/data/blob.bin"
    done
  fi
}

run_case() {
  local filesystem=${1%%:*} size=${1#*:}
  cleanup
  rm -rf "$WORK"; mkdir -p "$WORK"
  local stacks="$WORK/stacks"
  if [ "$filesystem" != ext4 ]; then
    local data_mib=$size
    [ "$size" = files ] && data_mib=1024
    local image_mib=$(( data_mib * 2 + 2048 ))
    truncate -s "${image_mib}M" "$WORK/fs.img"
    case $filesystem in
      xfs) mkfs.xfs -q -m reflink=1 -f "$WORK/fs.img" ;;
      btrfs) mkfs.btrfs -q -f "$WORK/fs.img" ;;
    esac
    mkdir -p "$WORK/mnt"; mount -o loop "$WORK/fs.img" "$WORK/mnt"
    stacks="$WORK/mnt/stacks"
  fi
  mkdir -p "$stacks"
  make_data "$stacks" "$size"
  for s in "${STACKS[@]}"; do (cd "$stacks/$s" && docker compose -p "$s" up -d --wait --wait-timeout 240 >/dev/null 2>&1); done
  sync
  local data_bytes; data_bytes=$(du -sb "$stacks" | cut -f1)

  # naive
  local since; since=$(date +%s.%N)
  for s in "${STACKS[@]}"; do (cd "$stacks/$s" && docker compose -p "$s" stop >/dev/null 2>&1); done
  local t0; t0=$(now_ms)
  tar -c -f - -C "$stacks" . | zstd -1 -q -f -o "$WORK/naive.tar.zst"
  sync "$WORK/naive.tar.zst"
  local naive_archive_ms=$(( $(now_ms) - t0 ))
  for s in "${STACKS[@]}"; do (cd "$stacks/$s" && docker compose -p "$s" start >/dev/null 2>&1); done
  sleep 1
  local naive; naive=$(downtime "$since" "$(date +%s.%N)")
  rm -f "$WORK/naive.tar.zst"

  # felhom
  cat >"$WORK/agent.yaml" <<YAML
listen: 127.0.0.1:18843
state_dir: $WORK/agent
repository: $WORK/agent/backups
YAML
  pin=$("$BIN/felhom-agent" init --config "$WORK/agent.yaml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pin"])')
  "$BIN/felhom-agent" guest add bench --data-dir "$stacks" --config "$WORK/agent.yaml" --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$WORK/agent-token"
  echo "bench-api-token" >"$WORK/api-token"
  chmod 600 "$WORK/agent-token" "$WORK/api-token"
  cat >"$WORK/controller.yaml" <<YAML
stacks_dir: $stacks
state_dir: $WORK/controller
agent: { url: https://127.0.0.1:18843, token_file: $WORK/agent-token, pin_sha256: "$pin" }
quiesce: { enabled: true, poll_interval_seconds: 1, status_poll_interval_seconds: 0.2, max_quiesce_seconds: 3600 }
api: { listen: 127.0.0.1:0, token_file: $WORK/api-token }
YAML
  FELHOM_LOG_LEVEL=info "$BIN/felhom-agent" run --config "$WORK/agent.yaml" 2>"$WORK/agent.log" &
  agent_pid=$!
  wait_for_line "$WORK/agent.log" '] listening' 60
  since=$(date +%s.%N)
  FELHOM_LOG_LEVEL=info "$BIN/felhom-controller" run --config "$WORK/controller.yaml" 2>"$WORK/controller.log" &
  controller_pid=$!
  wait_for_line "$WORK/controller.log" 'quiesce cycle finished' 3600
  kill "$controller_pid"; wait "$controller_pid" 2>/dev/null || true; controller_pid=""
  local felhom; felhom=$(downtime "$since" "$(date +%s.%N)")
  wait_for_line "$WORK/agent.log" 'backup done' 3600
  local backup; backup=$("$BIN/felhom-agent" backups --json --config "$WORK/agent.yaml" \
    | python3 -c 'import json,sys; b=json.load(sys.stdin)[0]; print(b["capture_method"], b["capture_window_ms"], b["archive_ms"], b["bytes_done"])')
  kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""

  # Stops and starts alone, as the controller could do them: one at a time (first stopped, first
  # started) or all together, each while a background archive of the data runs at nice 19, as the
  # agent's does after snapshotted.
  local strategy
  for strategy in sequential parallel; do
    (nice -n 19 ionice -c 2 -n 7 tar -c -f - -C "$stacks" . | nice -n 19 zstd -1 -q -f -o /dev/null) &
    local archiver=$!
    since=$(date +%s.%N)
    for s in "${STACKS[@]}"; do
      if [ "$strategy" = parallel ]; then (cd "$stacks/$s" && docker compose -p "$s" stop >/dev/null 2>&1) &
      else (cd "$stacks/$s" && docker compose -p "$s" stop >/dev/null 2>&1); fi
    done
    wait $(jobs -p | grep -v "^$archiver$") 2>/dev/null || true
    for s in "${STACKS[@]}"; do
      if [ "$strategy" = parallel ]; then (cd "$stacks/$s" && docker compose -p "$s" start >/dev/null 2>&1) &
      else (cd "$stacks/$s" && docker compose -p "$s" start >/dev/null 2>&1); fi
    done
    wait $(jobs -p | grep -v "^$archiver$") 2>/dev/null || true
    sleep 1
    local measured; measured=$(downtime "$since" "$(date +%s.%N)")
    if [ "$strategy" = sequential ]; then strategy_sequential=$measured; else strategy_parallel=$measured; fi
    kill "$archiver" 2>/dev/null || true; wait "$archiver" 2>/dev/null || true
  done

  python3 - "$1" "$data_bytes" "$naive" "$felhom" "$naive_archive_ms" "$backup" "$strategy_sequential" "$strategy_parallel" <<'PY'
import sys
case, data_bytes = sys.argv[1], int(sys.argv[2])
naive = {k: int(v) for k, v in (p.split("=") for p in sys.argv[3].split())}
felhom = {k: int(v) for k, v in (p.split("=") for p in sys.argv[4].split())}
naive_archive_ms = int(sys.argv[5])
method, window_ms, archive_ms, archived = sys.argv[6].split()
print(f"\n== {case}: 5 stacks, {data_bytes / 2**30:.2f} GiB; downtime per stack in ms, from docker events")
print(f"{'stack':6} {'naive':>8} {'felhom':>8} {'felhom/naive':>13}")
for stack in sorted(naive):
    n, f = naive[stack], felhom.get(stack, -1)
    print(f"{stack:6} {n:8d} {f:8d} {f / n:13.2f}")
mn, mf = max(naive.values()), max(felhom.values())
print(f"{'max':6} {mn:8d} {mf:8d} {mf / mn:13.2f}")
rate = lambda ms: f"{data_bytes / 2**20 / (int(ms) / 1000):.0f} MiB/s" if int(ms) > 0 else "-"
print(f"capture {method}, window (POST /backup to snapshotted) {window_ms} ms")
print(f"archive: felhom {archive_ms} ms ({rate(archive_ms)}), tar -c | zstd -1 {naive_archive_ms} ms ({rate(naive_archive_ms)})")
seq = {k: int(v) for k, v in (p.split("=") for p in sys.argv[7].split())}
par = {k: int(v) for k, v in (p.split("=") for p in sys.argv[8].split())}
print(f"stop and start alone, beside a background archive: max per-stack downtime one at a time {max(seq.values())} ms, all together {max(par.values())} ms")
print(f"RESULT {case} naive_max_ms={mn} felhom_max_ms={mf} ratio={mf / mn:.2f} method={method} window_ms={window_ms} archive_ms={archive_ms} tar_zstd_ms={naive_archive_ms} sequential_max_ms={max(seq.values())} parallel_max_ms={max(par.values())}")
PY
  cleanup
}

for c in "${CASES[@]}"; do run_case "$c"; done
