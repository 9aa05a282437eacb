#!/usr/bin/env bash
# Start the test bed's services on the docker network $NETWORK, published on loopback:
#   registry  127.0.0.1:5000  (Debian docker-registry)   alias registry:5000
#   registry  127.0.0.1:5001  (same store, login needed)  alias registry-auth:5001
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

# The login registry's credentials: made once per machine, kept across runs and teardowns.
auth_dir=$TESTBED_STATE/registry-auth
mkdir -p "$auth_dir"
chmod 0700 "$auth_dir"
if [ ! -s "$REGISTRY_AUTH_FILE" ]; then
  # Python makes the password and writes the file itself (0600 from the start): the password
  # is never an argument (ps) nor output.
  python3 - "$REGISTRY_AUTH_FILE" "$AUTH_REGISTRY" <<'PY'
import json, os, secrets, sys
path, registry = sys.argv[1], sys.argv[2]
creds = {"registry": registry, "alias": "registry-auth:5001",
         "username": "aishield-ci", "password": secrets.token_urlsafe(24)}
tmp = path + ".tmp"
if os.path.lexists(tmp):
    os.unlink(tmp)  # a leftover may have another mode; O_CREAT would keep it
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(creds, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
  log "registry-auth: new credentials (user aishield-ci) written to $REGISTRY_AUTH_FILE"
fi
chmod 0600 "$REGISTRY_AUTH_FILE"
# The htpasswd file is derived from the credentials: remade when missing or when the JSON changed.
htpasswd=$auth_dir/htpasswd
source_hash=$(sha256sum <"$REGISTRY_AUTH_FILE" | cut -c1-64)
if [ ! -s "$htpasswd" ] || [ "$(cat "$auth_dir/htpasswd.source" 2>/dev/null)" != "$source_hash" ]; then
  # bcrypt from the tools image's Python (crypt on libxcrypt, cost 5 as htpasswd -B): adding
  # apache2-utils would rebuild the tools image, and that restarts every running service.
  user=$(registry_auth_field username)
  if ! ( umask 077
    registry_auth_field password | docker run --rm -i --network none "$TOOLS_IMAGE" python3 -W ignore -c '
import crypt, sys
password = sys.stdin.readline().rstrip("\n")
print(sys.argv[1] + ":" + crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)))' "$user" >"$htpasswd.tmp" ) \
     || ! grep -q "^$user:[$]2[aby][$]05[$]" "$htpasswd.tmp"; then
    rm -f "$htpasswd.tmp"
    die "could not make a bcrypt htpasswd entry with the tools image's python3"
  fi
  mv "$htpasswd.tmp" "$htpasswd"
  echo "$source_hash" >"$auth_dir/htpasswd.source"
  log "registry-auth: htpasswd made from $REGISTRY_AUTH_FILE"
fi
# The login registry's files go into its container; their hash labels it, so a change recreates it.
auth_config=$(cat "$TESTBED_DIR/tools/registry-auth.yml" "$htpasswd" | sha256sum | cut -c1-16)
# want_config NAME: the org.aishield.config label NAME must carry (empty: no files copied in).
want_config() { if [ "$1" = aishield-registry-auth ]; then echo "$auth_config"; fi; }

# name alias port command...
SERVICES=(
  "aishield-registry registry 5000 docker-registry serve /etc/docker/registry/config.yml"
  "aishield-registry-auth registry-auth 5001 docker-registry serve /etc/docker/registry/auth.yml"
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

tools_id=$(docker image inspect -f '{{.Id}}' "$TOOLS_IMAGE")
for spec in "${SERVICES[@]}"; do
  read -r name alias port cmd <<<"$spec"
  want=$(want_config "$name")
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ] \
     && [ "$(docker inspect -f '{{.Image}}' "$name")" = "$tools_id" ] \
     && [ "$(docker inspect -f '{{index .Config.Labels "org.aishield.config"}}' "$name")" = "$want" ]; then
    log "$name: running"
    continue
  fi
  docker rm -f "$name" >/dev/null 2>&1 || true
  extra=()
  # Both registries serve one store: the login one needs no pushes of its own.
  case "$name" in aishield-registry|aishield-registry-auth) extra=(-v aishield-registry-data:/var/lib/docker-registry) ;; esac
  [ -z "$want" ] || extra+=(--label "org.aishield.config=$want")
  # shellcheck disable=SC2086
  docker create --name "$name" --restart unless-stopped --network "$NETWORK" --network-alias "$alias" \
    --label org.aishield.testbed=1 -p "127.0.0.1:$port:$port" "${extra[@]}" "$TOOLS_IMAGE" $cmd >/dev/null
  if [ "$name" = aishield-registry-auth ]; then
    # Copied, not bind-mounted: works with any engine the docker CLI talks to.
    docker cp "$TESTBED_DIR/tools/registry-auth.yml" "$name:/etc/docker/registry/auth.yml" >/dev/null
    docker cp "$htpasswd" "$name:/etc/docker/registry/htpasswd" >/dev/null
  fi
  docker start "$name" >/dev/null
  log "$name: started on 127.0.0.1:$port (alias $alias:$port)"
done

# Wait until each answers over HTTP (bounded).
for url in http://127.0.0.1:5000/v2/ http://127.0.0.1:9000/moto-api/ http://127.0.0.1:9080/healthz; do
  for _ in $(seq 1 60); do curl -sf -o /dev/null "$url" && break; sleep 0.5; done
  curl -sf -o /dev/null "$url" || die "$url did not answer within 30 s (docker logs of the service say why)"
done
# The login registry must refuse an anonymous client: 401 proves auth is on (bounded).
code=000
for _ in $(seq 1 60); do
  code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://$AUTH_REGISTRY/v2/" || true)
  [ "$code" = 401 ] && break
  sleep 0.5
done
[ "$code" = 401 ] || die "http://$AUTH_REGISTRY/v2/ answered '$code' within 30 s, not 401 (docker logs aishield-registry-auth says why)"
# The bucket deploys back up to (moto keeps buckets in memory, so make sure on every run).
curl -sf -o /dev/null -X PUT http://127.0.0.1:9000/aishield-backups || curl -sf -o /dev/null http://127.0.0.1:9000/aishield-backups \
  || die "could not create the aishield-backups bucket on the S3 API at 127.0.0.1:9000"
log "services: registry, s3 (bucket aishield-backups), receiver answer"
log "services: registry-auth answers 401 without a login; user and password for $AUTH_REGISTRY (alias registry-auth:5001) are in $REGISTRY_AUTH_FILE"
