#!/usr/bin/env bash
# Stop only what the test bed started: its containers (by label: registry, registry-auth, s3, receiver), network,
# the demo stack, and dockerd when setup started it (by pid; KEEP_ENGINE=1 keeps it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 || { log "no engine answers: nothing to stop"; exit 0; }
if docker compose ls -q 2>/dev/null | grep -qx aishield-demo; then
  log "stopping the demo stack (project aishield-demo)"
  docker compose -p aishield-demo down --remove-orphans >/dev/null 2>&1 || true
fi
ids=$(docker ps -aq --filter label=org.aishield.testbed=1)
[ -z "$ids" ] || { log "removing test bed containers"; docker rm -f $ids >/dev/null; }
docker network rm "$NETWORK" >/dev/null 2>&1 || true
if [ -f "$TESTBED_STATE/dockerd.pid" ] && [ "${KEEP_ENGINE:-0}" != 1 ]; then
  pid=$(cat "$TESTBED_STATE/dockerd.pid")
  log "stopping dockerd (pid $pid) started by the test bed"
  kill "$pid" 2>/dev/null || true
  rm -f "$TESTBED_STATE/dockerd.pid"
fi
log "teardown done (images and the registry volume are kept as a cache; registry-auth's credentials stay in $REGISTRY_AUTH_FILE)"
