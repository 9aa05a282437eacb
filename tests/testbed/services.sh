#!/usr/bin/env bash
# Start the test bed's services on the docker network $NETWORK, published on loopback:
#   registry  127.0.0.1:5000  (Debian docker-registry)   alias registry:5000
#   S3 API    127.0.0.1:9000  (moto_server)               alias s3:9000
#   receiver  127.0.0.1:9080  (status page + webhooks)    alias receiver:9080
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TOOLS_IMAGE=aishield-testbed/tools:latest
ctx="$TESTBED_STATE/tools-context"

# Assemble the build context: Dockerfile, config, receiver and moto's wheels.
mkdir -p "$ctx/wheels"
cp "$TESTBED_DIR/tools/Dockerfile" "$TESTBED_DIR/tools/registry.yml" "$ctx/"
cp "$TESTBED_DIR/receiver.py" "$ctx/receiver.py"
if [ ! -f "$ctx/wheels/.complete-5.2.5" ]; then
  log "tools: downloading moto[server] wheels on the host"
  python3 -m pip download -q -d "$ctx/wheels" "moto[server]==5.2.5" 2>&1 | grep -v 'is ignored' || true
  ls "$ctx"/wheels/moto-5.2.5-*.whl >/dev/null 2>&1 || die "pip download of moto[server]==5.2.5 failed (is PyPI reachable?)"
  touch "$ctx/wheels/.complete-5.2.5"
fi
build_image "$TOOLS_IMAGE" "$ctx"

docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create "$NETWORK" >/dev/null

# name alias port command...
SERVICES=(
  "aishield-registry registry 5000 docker-registry serve /etc/docker/registry/config.yml"
  "aishield-s3 s3 9000 /opt/moto/bin/moto_server -H 0.0.0.0 -p 9000"
  "aishield-receiver receiver 9080 python3 /usr/local/bin/aishield-receiver --host 0.0.0.0 --port 9080"
)

# Check every port first so a conflict leaves nothing half-started.
for spec in "${SERVICES[@]}"; do
  read -r name _ port _ <<<"$spec"
  running=$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || echo false)
  [ "$running" = true ] && [ "$(docker inspect -f '{{.Config.Image}}' "$name")" = "$TOOLS_IMAGE" ] && continue
  owner=$(port_owner "$port")
  [ -z "$owner" ] || die "port 127.0.0.1:$port needed by $name is already taken: $owner. Free it, then rerun."
done

for spec in "${SERVICES[@]}"; do
  read -r name alias port cmd <<<"$spec"
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] \
     && [ "$(docker inspect -f '{{.Image}}' "$name")" = "$(docker image inspect -f '{{.Id}}' "$TOOLS_IMAGE")" ]; then
    log "$name: running"
    continue
  fi
  docker rm -f "$name" >/dev/null 2>&1 || true
  volume=()
  [ "$name" = aishield-registry ] && volume=(-v aishield-registry-data:/var/lib/docker-registry)
  # shellcheck disable=SC2086
  docker run -d --name "$name" --restart unless-stopped --network "$NETWORK" --network-alias "$alias" \
    --label org.aishield.testbed=1 -p "127.0.0.1:$port:$port" "${volume[@]}" "$TOOLS_IMAGE" $cmd >/dev/null
  log "$name: started on 127.0.0.1:$port (alias $alias:$port)"
done

# Wait until each answers over HTTP (bounded).
for url in http://127.0.0.1:5000/v2/ http://127.0.0.1:9000/moto-api/ http://127.0.0.1:9080/healthz; do
  for _ in $(seq 1 60); do curl -sf -o /dev/null "$url" && break; sleep 0.5; done
  curl -sf -o /dev/null "$url" || die "$url did not answer within 30 s (docker logs of the service say why)"
done
# The bucket deploys back up to (moto keeps buckets in memory, so make sure on every run).
curl -sf -o /dev/null -X PUT http://127.0.0.1:9000/aishield-backups || curl -sf -o /dev/null http://127.0.0.1:9000/aishield-backups \
  || die "could not create the aishield-backups bucket on the S3 API at 127.0.0.1:9000"
log "services: registry, s3 (bucket aishield-backups), receiver answer"
