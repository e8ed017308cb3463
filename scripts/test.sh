#!/usr/bin/env bash
# The README's test command: set up the real Docker engine, build, run every test.
# Under CI=true a docker-backed test fails (never skips) when the engine is unusable.
#
#   STRESS=N            run the whole suite N times in a row (default 1), to look for flaky tests
#   FELHOM_DOCKER_TEST_SLOTS=K   how many docker-backed tests may run at once (default 2)
#
# Extra arguments go to `swift build` and `swift test`, e.g. `-c release`.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${STRESS:-1}
case "$runs" in
  ''|*[!0-9]*|0) echo "STRESS must be a whole number of runs, at least 1 (got '$runs')" >&2; exit 64 ;;
esac

bash scripts/setup.sh
echo "[test] $(docker version --format 'docker engine {{.Server.Version}}') / $(docker compose version)"

swift build --build-tests "$@"
# The image the container tests deploy, from the release binary (the first build takes several minutes).
bash scripts/build-controller-image.sh

for run in $(seq "$runs"); do
  [ "$runs" -eq 1 ] || echo "[test] run $run of $runs"
  started=$(date +%s)
  # Everything but the test that stops dockerd, which must run with nothing else on the engine.
  swift test --skip-build --skip DockerDaemonStopTests "$@"
  FELHOM_DAEMON_STOP_TEST=1 swift test --skip-build --filter DockerDaemonStopTests "$@"
  # Both APIs against their specs: any 5xx or answer that breaks its schema fails the run.
  bash scripts/api-fuzz.sh "$(swift build --show-bin-path "$@")"
  echo "[test] run $run of $runs passed in $(( $(date +%s) - started )) s"
done
