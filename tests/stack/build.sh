#!/usr/bin/env bash
# Build every image of the reference AI Shield stack; push them to the local
# registry (127.0.0.1:5000) when it answers. Idempotent: unchanged images are skipped.
#
#   bash tests/stack/build.sh            # build, push if the registry is up
#   bash tests/stack/build.sh --no-push  # build only
#   bash tests/stack/build.sh --push     # build, and fail if the registry is down
set -euo pipefail
STACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../testbed/lib.sh
. "$STACK_DIR/../testbed/lib.sh"

stack_push_mode "$@"
stack_build_ready

IMAGES=$STACK_DIR/images
VERSIONS=$(python3 -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))))' \
  "$STACK_DIR/versions.json") || die "cannot read $STACK_DIR/versions.json"
started=$SECONDS

# Shared runtime for all backend versions (the slow Debian install).
build_image aishield-testbed/pyapp:latest "$IMAGES/pyapp"
pyapp_id=$(docker image inspect -f '{{.Id}}' aishield-testbed/pyapp:latest)

# The backend context: the backend folder plus the release manifest (tests/stack/versions.json).
ctx=$(stack_context "$IMAGES/backend" "$STACK_DIR/versions.json" stack-backend)
trap 'rm -rf "$ctx"' EXIT

pushes=()
for v in $VERSIONS; do
  build_image "aishield/backend:$v" "$ctx" --build-arg "APP_VERSION=$v" --build-arg "PARENT_ID=$pyapp_id"
  # The worker's own image on top (the runbook builds aishield-worker); the backend's id keys its rebuild.
  build_image "aishield/worker:$v" "$IMAGES/worker" --build-arg "BACKEND_IMAGE=aishield/backend:$v" --build-arg "APP_VERSION=$v" \
    --build-arg "PARENT_ID=$(docker image inspect -f '{{.Id}}' "aishield/backend:$v")"
  pushes+=("aishield/backend:$v" "aishield/worker:$v")
done
build_image aishield/frontend:v1 "$IMAGES/frontend" --build-arg APP_VERSION=v1
# A second version (the same build, another label): a stack without a database rolls it in the tests.
build_image aishield/frontend:v2 "$IMAGES/frontend" --build-arg APP_VERSION=v2
build_image aishield/proxy:v1 "$IMAGES/proxy" --build-arg APP_VERSION=v1
build_image aishield/postgres:15 "$IMAGES/postgres"
build_image aishield/redis:7 "$IMAGES/redis"
pushes+=(aishield/frontend:v1 aishield/frontend:v2 aishield/proxy:v1 aishield/postgres:15 aishield/redis:7)
log "stack images built in $((SECONDS - started)) s"

stack_push "$STACK_PUSH" "stack images" "${pushes[@]}"
