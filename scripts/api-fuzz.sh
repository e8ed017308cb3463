#!/usr/bin/env bash
# Fuzzes both HTTP APIs against their OpenAPI specs with schemathesis: a
# throwaway felhom-agent (HTTPS, self-signed, directory backend) and a
# felhom-controller serving the customer API (quiesce loop off) on loopback.
# Exits non-zero when schemathesis reports any failure for either API.
#
#   bash scripts/api-fuzz.sh [BIN_DIR]     # BIN_DIR defaults to .build/debug; nothing is built
#
#   FUZZ_MAX_EXAMPLES=N   test cases per operation and phase (default 20)
#   FUZZ_SEED=N           hypothesis seed, for reproducible runs (default 20261125)
#   FUZZ_WORKERS=N        concurrent schemathesis workers (default 1: deterministic order)
#   FUZZ_KEEP=1           keep the temp dir (configs, logs, reports) even when both pass
#
# Needs: schemathesis 4.32.5 (scripts/setup.sh installs it), curl, and a
# running docker engine: the controller lists stacks through `docker`, and without it
# GET /api/stacks answers 503, which the spec does not document.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

SCHEMATHESIS_VERSION=4.32.5   # keep in step with scripts/setup.sh
BIN_DIR=${1:-.build/debug}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-20}
SEED=${FUZZ_SEED:-20261125}
WORKERS=${FUZZ_WORKERS:-1}
KEEP=${FUZZ_KEEP:-0}
log() { printf '[api-fuzz] %s\n' "$*" >&2; }
die() { printf '[api-fuzz] error: %s\n' "$*" >&2; exit 2; }

case "$BIN_DIR" in /*) ;; *) BIN_DIR=$REPO/$BIN_DIR ;; esac
AGENT=$BIN_DIR/felhom-agent
CONTROLLER=$BIN_DIR/felhom-controller
[ -x "$AGENT" ] || die "no felhom-agent in $BIN_DIR (build it first; this script never builds)"
[ -x "$CONTROLLER" ] || die "no felhom-controller in $BIN_DIR (build it first; this script never builds)"
command -v curl >/dev/null || die "curl is missing"
have=$(python3 -m schemathesis.cli --version 2>/dev/null | awk '{print $NF}' || true)
[ "$have" = "$SCHEMATHESIS_VERSION" ] \
  || die "schemathesis $SCHEMATHESIS_VERSION is needed (found '${have:-none}'); run scripts/setup.sh as root"
docker info >/dev/null 2>&1 \
  || die "docker is not running; the controller's GET /api/stacks needs it. Run scripts/setup.sh (as root) first"

WORK=$(mktemp -d /tmp/felhom-api-fuzz.XXXXXX)
failed=0
agent_pid=
controller_pid=
st_pid=
cleanup() {
  local rc=$?
  for pid in "$st_pid" "$controller_pid" "$agent_pid"; do
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$st_pid" "$controller_pid" "$agent_pid"; do
    [ -n "$pid" ] || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # In case a fuzzed start/restart ever brought the copied stack up (normally a no-op).
  if [ -f "$WORK/controller.yaml" ] && [ -n "${STACK:-}" ]; then
    "$CONTROLLER" stacks down "$STACK" --force --config "$WORK/controller.yaml" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK/bin"
  if [ "$KEEP" = 1 ] || [ "$rc" -ne 0 ]; then
    log "kept $WORK (configs, server logs, schemathesis reports)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Copies, so a rebuild in BIN_DIR during the run cannot swap the binaries under test.
mkdir -p "$WORK/bin"
cp "$AGENT" "$CONTROLLER" "$WORK/bin/"
log "binaries from $BIN_DIR, built $(date -u -r "$AGENT" +%FT%TZ) (agent) and $(date -u -r "$CONTROLLER" +%FT%TZ) (controller)"
AGENT=$WORK/bin/felhom-agent
CONTROLLER=$WORK/bin/felhom-controller

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Polls URL until it answers 200, the process PID has died, or 60 s pass.
wait_healthy() {
  local url=$1 pid=$2 name=$3 logfile=$4
  for _ in $(seq 600); do
    curl -ksf -o /dev/null --max-time 2 "$url" && return 0
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logfile" >&2; die "$name exited before $url answered"; }
    sleep 0.1
  done
  tail -n 20 "$logfile" >&2
  die "$name did not answer $url within 60 s"
}

# --- agent -------------------------------------------------------------------
AGENT_PORT=$(free_port)
mkdir -p "$WORK/agent" "$WORK/stacks"
cat >"$WORK/agent.yaml" <<YAML
listen: 127.0.0.1:$AGENT_PORT
state_dir: $WORK/agent
repository: $WORK/agent/backups
backend: directory
retention: { keep_last: 3 }
# Fuzzed POST /backup may start many backups; the default (48 a day) would turn them into 429s.
limits: { backups_per_day: 100000 }
# No scheduled restore tests: they start compose probes, which are not what is under test here.
restore_test: { interval_seconds: 0 }
YAML
pin=$("$AGENT" init --config "$WORK/agent.yaml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pin"])')
# The guest's data dir is the stacks dir, as in demo.sh: a backup has a little to capture.
# Fuzzing really starts backups and rollbacks of it (the stateful phase feeds ids from
# GET /backups into POST /rollback); everything is under $WORK.
(umask 077
 "$AGENT" guest add fuzz --data-dir "$WORK/stacks" --interval-seconds 3600 --config "$WORK/agent.yaml" --json \
   | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$WORK/agent-token"
 head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$WORK/api-token")
chmod 600 "$WORK/agent-token" "$WORK/api-token"

# Both servers get a session of their own: they handle SIGINT themselves, so a Ctrl-C sent to
# this script's process group would otherwise stop them under a running schemathesis.
setsid "$AGENT" run --config "$WORK/agent.yaml" >"$WORK/agent.log" 2>&1 </dev/null &
agent_pid=$!
AGENT_URL=https://127.0.0.1:$AGENT_PORT
wait_healthy "$AGENT_URL/healthz" "$agent_pid" felhom-agent "$WORK/agent.log"
log "agent on $AGENT_URL (pid $agent_pid)"

# --- controller --------------------------------------------------------------
# One copy of the webapp fixture, not deployed, so GET /api/stacks has a Stack object to
# validate. Its name is random so it cannot clash with a test's or the demo's project.
# The stateful phase learns the name from GET /api/stacks and POSTs start/stop/restart to
# it (stop answers 200, start and restart 409 not_deployed), so these do reach docker;
# cleanup brings the project down in case one ever started it.
STACK=apifuzz-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
cp -r compose-fixtures/webapp "$WORK/stacks/$STACK"
API_PORT=$(free_port)
cat >"$WORK/controller.yaml" <<YAML
stacks_dir: $WORK/stacks
state_dir: $WORK/controller
agent: { url: $AGENT_URL, token_file: $WORK/agent-token, pin_sha256: "$pin" }
# Off: no cycle may stop stacks while requests are fuzzed. POST /api/rollback then answers
# 404 (agent pre-flight) or 503 quiesce_off.
quiesce: { enabled: false }
api: { listen: 127.0.0.1:$API_PORT, token_file: $WORK/api-token }
YAML
setsid "$CONTROLLER" run --config "$WORK/controller.yaml" >"$WORK/controller.log" 2>&1 </dev/null &
controller_pid=$!
API_URL=http://127.0.0.1:$API_PORT
wait_healthy "$API_URL/healthz" "$controller_pid" felhom-controller "$WORK/controller.log"
log "controller on $API_URL (pid $controller_pid)"

# --- schemathesis --------------------------------------------------------------
# --checks all: every built-in check. The ones that matter most here are
# not_a_server_error (no 5xx), status_code_conformance (only documented statuses),
# content_type_conformance + response_schema_conformance + response_headers_conformance
# (bodies match the spec), negative_data_rejection / positive_data_acceptance (the server
# agrees with the spec on what is valid), missing_required_header (Idempotency-Key),
# ignored_auth (the bearer token is really enforced), unsupported_method and
# allow_header_conformance (405 with Allow for undeclared methods). use_after_free and
# ensure_resource_availability run in the stateful phase over the links schemathesis
# infers (backup ids from GET /backups, stack names from GET /api/stacks);
# object_level_authorization needs a second identity and so stays idle. None is
# excluded: the script is meant to flag every disagreement between a server and its spec.
# What no check covers: content-type probes (text/plain, malformed multipart) only count
# when they cause a 5xx, and HEAD is never sent as an "undeclared" method.
#
# --mode all (the default): positive and negative data. All four phases run (examples,
# coverage, fuzzing, stateful); --max-examples bounds each per operation.
# --continue-on-failure: without it an operation stops at its first failure (e.g. the
# 404 to TRACE), which hides any other failure of the same operation.
run_schemathesis() {
  local name=$1 spec=$2 url=$3 token_file=$4
  shift 4
  local started=$SECONDS rc=0
  local report=$WORK/report-$name
  # An empty config file, and $WORK as the working directory: no schemathesis.toml of the
  # caller's applies, and schemathesis's replay cache (.schemathesis/) stays out of the repo.
  : >"$WORK/schemathesis.toml"
  local cmd=(python3 -m schemathesis.cli --config-file "$WORK/schemathesis.toml" run "$REPO/$spec" --url "$url"
    --header "Authorization: Bearer $(cat "$token_file")"
    --checks all --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers "$WORKERS"
    --continue-on-failure --request-timeout 20 --generation-database none --no-color
    --report junit,ndjson --report-junit-path "$report/junit.xml" --report-ndjson-path "$report/events.ndjson" "$@")
  log "running: ${cmd[*]/Bearer */Bearer ***}"
  # In the background with `wait`, so an INT or TERM runs the trap at once; cleanup stops it.
  (cd "$WORK" && exec "${cmd[@]}") >"$WORK/schemathesis-$name.out" 2>&1 </dev/null &
  st_pid=$!
  wait "$st_pid" || rc=$?
  st_pid=
  cat "$WORK/schemathesis-$name.out"
  local took=$((SECONDS - started))
  local counts
  counts=$(python3 - "$report/junit.xml" <<'PY' 2>/dev/null || echo "no junit report"
import collections, sys, xml.etree.ElementTree as ET
cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
ops = [c for c in cases if c.get("name") != "Stateful tests"]
bad = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
codes = collections.Counter(f.get("message", "?") for c in cases for f in list(c.findall("failure")) + list(c.findall("error")))
detail = ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))
print(f"{len(ops)} operations + stateful, {len(bad)} with failures" + (f" ({detail})" if detail else ""))
PY
)
  SUMMARY+=("$(printf '%-10s %s in %ss (schemathesis exit %s): %s' "$name" "$([ "$rc" -eq 0 ] && echo PASS || echo FAIL)" "$took" "$rc" "$counts")")
  [ "$rc" -eq 0 ] || failed=1
}

SUMMARY=()
run_schemathesis agent docs/openapi/agent.yaml "$AGENT_URL" "$WORK/agent-token" --tls-verify false
run_schemathesis controller docs/openapi/controller.yaml "$API_URL" "$WORK/api-token"

kill -0 "$agent_pid" 2>/dev/null || { log "felhom-agent died during the run; see $WORK/agent.log"; failed=1; }
kill -0 "$controller_pid" 2>/dev/null || { log "felhom-controller died during the run; see $WORK/controller.log"; failed=1; }

echo
echo "api-fuzz summary (schemathesis $SCHEMATHESIS_VERSION, max-examples $MAX_EXAMPLES, seed $SEED):"
printf '  %s\n' "${SUMMARY[@]}"
exit "$failed"
