#!/usr/bin/env bash
# The README's test command: set up the real Docker engine, build, run every test.
# Under CI=true a docker-backed test fails (never skips) when the engine is unusable.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "[test] $(docker version --format 'docker engine {{.Server.Version}}') / $(docker compose version)"

swift build --build-tests "$@"
# Everything but the test that stops dockerd, which must run with nothing else on the engine.
swift test --skip-build --skip DockerDaemonStopTests "$@"
FELHOM_DAEMON_STOP_TEST=1 swift test --skip-build --filter DockerDaemonStopTests "$@"
