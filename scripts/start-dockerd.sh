#!/usr/bin/env bash
# Starts dockerd in the background when it is not answering, and waits for it.
# Used by setup.sh, and by the test that stops the daemon in the middle of a backup.
set -euo pipefail
DOCKERD_LOG=${FELHOM_DOCKERD_LOG:-/var/log/felhom-dockerd.log}
if docker info >/dev/null 2>&1; then exit 0; fi
# A daemon that was just stopped may still hold its pid file for a moment.
for _ in $(seq 60); do pidof dockerd >/dev/null || break; sleep 0.5; done
printf '[setup] starting dockerd (log: %s)\n' "$DOCKERD_LOG" >&2
setsid /usr/sbin/dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
# Seconds; a loaded machine can take far longer than the usual 2 s.
wait_seconds=${FELHOM_DOCKERD_WAIT_SECONDS:-120}
for _ in $(seq $((wait_seconds * 2))); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "dockerd did not come up within $wait_seconds s; last lines of $DOCKERD_LOG:" >&2
tail -n 30 "$DOCKERD_LOG" >&2 || true
exit 1
