#!/usr/bin/env bash
# Provide $BASE_IMAGE: debian:bookworm-slim when it can be pulled, else a debootstrap build.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $BASE_IMAGE: present"
  exit 0
fi
if timeout 60 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
  docker tag debian:bookworm-slim "$BASE_IMAGE"
  log "base image $BASE_IMAGE: from debian:bookworm-slim"
  exit 0
fi
is_debian || die "Cannot pull debian:bookworm-slim and debootstrap needs Debian: load a Debian bookworm image as $BASE_IMAGE, then rerun."
need_root "build the base image with debootstrap"
command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
rootfs=$(mktemp -d /var/tmp/aishield-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
log "base image: debootstrap bookworm (about 1-2 min)"
debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$rootfs" "$(debian_mirror)" >"$TESTBED_STATE/debootstrap.log" 2>&1 \
  || die "debootstrap failed; see $TESTBED_STATE/debootstrap.log"
# Keep images small: no apt lists or caches in the base layer.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
log "base image $BASE_IMAGE: built ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
