#!/usr/bin/env bash
# Build the images of the "notes" stack (tests/stack2); push them to the local registry
# (127.0.0.1:5000) when it answers. Idempotent: unchanged images are skipped.
#
#   bash tests/stack2/build.sh            # build, push if the registry is up
#   bash tests/stack2/build.sh --no-push  # build only
#   bash tests/stack2/build.sh --push     # build, and fail if the registry is down
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

# The reference stack's Python runtime (same context and tag, so usually "up to date").
build_image aishield-testbed/pyapp:latest "$REPO_ROOT/tests/stack/images/pyapp"
pyapp_id=$(docker image inspect -f '{{.Id}}' aishield-testbed/pyapp:latest)

# The api context: the api folder plus the release manifest (tests/stack2/versions.json).
ctx=$(stack_context "$IMAGES/api" "$STACK_DIR/versions.json" stack2-api)
trap 'rm -rf "$ctx"' EXIT

pushes=()
for v in $VERSIONS; do
  build_image "notes/api:$v" "$ctx" --build-arg "APP_VERSION=$v" --build-arg "PARENT_ID=$pyapp_id"
  pushes+=("notes/api:$v")
done
build_image notes/jobs:v1 "$IMAGES/jobs" --build-arg APP_VERSION=v1 --build-arg "PARENT_ID=$pyapp_id"
pushes+=(notes/jobs:v1)
log "notes stack images built in $((SECONDS - started)) s"

# pg and edge reuse the reference stack's images: tests/stack/build.sh builds and pushes those.
for img in aishield/postgres:15 aishield/proxy:v1; do
  docker image inspect "$img" >/dev/null 2>&1 \
    || log "note: $img (used by pg/edge) is missing here; run: bash tests/stack/build.sh"
done

stack_push "$STACK_PUSH" "notes stack images" "${pushes[@]}"
