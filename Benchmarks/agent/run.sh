#!/usr/bin/env bash
# Agent benchmarks: prints figures, asserts nothing. See docs/benchmarks.md.
#
#   bash Benchmarks/agent/run.sh            # 1 GiB of data, 15 s of wrk
#   DATA_MIB=2048 WRK_SECONDS=30 bash Benchmarks/agent/run.sh
#
# Needs root (it installs wrk with apt when missing) and a release build,
# which it makes: swift build -c release --product felhom-agent.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_MIB=${DATA_MIB:-1024}
WRK_SECONDS=${WRK_SECONDS:-15}
WORK=${WORK:-/var/tmp/felhom-agent-bench}

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
swift build -c release --product felhom-agent >/dev/null
AGENT=$(swift build -c release --show-bin-path)/felhom-agent

rm -rf "$WORK/state" "$WORK/repository" "$WORK/plain.tar.zst"
mkdir -p "$WORK"
if [ ! -f "$WORK/data.done-$DATA_MIB" ]; then
  rm -rf "$WORK/data" "$WORK"/data.done-*
  python3 Benchmarks/agent/make-data.py "$WORK/data" "$DATA_MIB"
  touch "$WORK/data.done-$DATA_MIB"
fi
cat >"$WORK/agent.yaml" <<YAML
listen: 127.0.0.1:18743
state_dir: $WORK/state
repository: $WORK/repository
backend: directory
retention: { keep_last: 2 }
YAML

now_ms() { date +%s%3N; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
data_bytes=$(du -sb --apparent-size "$WORK/data" | cut -f1)

# Warm the page cache once so both runs read the data from memory alike.
tar -cf - -C "$WORK/data" . >/dev/null

echo "== plain tar | zstd -1"
start=$(now_ms)
tar -c -f - --format=posix -C "$WORK/data" . | zstd -1 -q -o "$WORK/plain.tar.zst"
sync "$WORK/plain.tar.zst"
plain_ms=$(( $(now_ms) - start ))
echo "   $plain_ms ms, archive $(stat -c %s "$WORK/plain.tar.zst") bytes"

# The agent also hashes every file for the manifest; this is what that costs done separately.
echo "== plain tar | zstd -1, then sha256sum of every file"
start=$(now_ms)
tar -c -f - --format=posix -C "$WORK/data" . | zstd -1 -q -f -o "$WORK/plain.tar.zst"
sync "$WORK/plain.tar.zst"
(cd "$WORK/data" && find . -type f -print0 | xargs -0 sha256sum >/dev/null)
hashed_ms=$(( $(now_ms) - start ))
echo "   $hashed_ms ms"

pin=$("$AGENT" init --config "$WORK/agent.yaml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pin"])')
token=$("$AGENT" guest add bench --data-dir "$WORK/data" --config "$WORK/agent.yaml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
"$AGENT" run --config "$WORK/agent.yaml" 2>"$WORK/agent.log" &
agent_pid=$!
trap 'kill $agent_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '] listening' "$WORK/agent.log" 2>/dev/null && break; sleep 0.1; done
call() { curl -sS --fail-with-body -k --pinnedpubkey "$pin" -H "Authorization: Bearer $token" "$@"; }

sleep 5
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status")
echo "== idle RSS after start: ${idle_rss} KiB"

echo "== felhom-agent backup (tar -> manifest reader -> zstd -1, fsync, rename)"
start=$(now_ms)
backup_id=$(call -X POST -H 'Idempotency-Key: bench-1' -d '{"quiesced":true,"stacks":[]}' "https://127.0.0.1:18743/backup" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_id"])')
while :; do
  phase=$(call "https://127.0.0.1:18743/backup/status?backup_id=$backup_id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["phase"])')
  [ "$phase" = done ] || [ "$phase" = failed ] && break
  sleep 0.05
done
agent_ms=$(( $(now_ms) - start ))
echo "   phase $phase, $agent_ms ms, archive $(stat -c %s "$WORK/repository/bench/$backup_id.tar.zst") bytes"
python3 - "$data_bytes" "$plain_ms" "$hashed_ms" "$agent_ms" <<'PY'
import sys
data, plain, hashed, agent = (int(value) for value in sys.argv[1:])
mib = data / (1 << 20)
print(f"   data {mib:.0f} MiB: plain {mib / (plain / 1000):.0f} MiB/s, plain+sha256sum {mib / (hashed / 1000):.0f} MiB/s, "
      f"agent {mib / (agent / 1000):.0f} MiB/s")
print(f"   throughput ratio agent/plain {plain / agent:.2f}, agent/(plain+sha256sum) {hashed / agent:.2f}")
PY

echo "== GET /backup/due over TLS: wrk, 2 threads, 50 connections, ${WRK_SECONDS} s"
wrk -t2 -c50 -d"${WRK_SECONDS}s" --latency -H "Authorization: Bearer $token" "https://127.0.0.1:18743/backup/due" \
  | grep -E 'Requests/sec|^ +50%|^ +99%|requests in|Non-2xx|Socket errors'
echo "== RSS after the load: $(awk '/VmRSS/ {print $2}' "/proc/$agent_pid/status") KiB"
