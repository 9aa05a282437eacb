#!/usr/bin/env bash
# registry_auth_check.sh [REPO:TAG]: prove the login registry (127.0.0.1:5001) serves what the
# stack pushed to 127.0.0.1:5000: an anonymous pull is refused, a pull after docker login works.
# setup.sh runs it after the stack step; the login lives in a temporary DOCKER_CONFIG only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
image=$AUTH_REGISTRY/${1:-aishield/redis:7}
curl -sf -m 3 -o /dev/null "http://$REGISTRY/v2/" || die "registry $REGISTRY does not answer; run: bash tests/testbed/setup.sh services"

# Leave the local engine as it was: untag the pulled name unless it was there before.
had_tag=$(docker image inspect "$image" >/dev/null 2>&1 && echo 1 || echo "")
docker_config=$(mktemp -d "$TESTBED_STATE/docker-config.XXXXXX")
cleanup() {
  rm -rf "$docker_config"
  [ -n "$had_tag" ] || docker image rm "$image" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if out=$(DOCKER_CONFIG=$docker_config timeout 120 docker pull -q "$image" 2>&1); then
  die "$image was pulled without a login: the registry on $AUTH_REGISTRY does not require one"
fi
grep -Eq 'no basic auth credentials|unauthorized' <<<"$out" \
  || die "the anonymous pull of $image failed, but not for want of a login: $out"

registry_auth_login "$docker_config"
if ! out=$(DOCKER_CONFIG=$docker_config timeout 300 docker pull -q "$image" 2>&1); then
  printf '%s\n' "$out" >&2
  die "pull of $image after docker login failed (output above; is it pushed to $REGISTRY? run the stack step)"
fi
log "registry-auth: anonymous pull refused, pull of $image after login works (credentials: $REGISTRY_AUTH_FILE)"
