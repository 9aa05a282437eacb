#!/usr/bin/env bash
# Build the test bed's monitoring images from Debian bookworm's packages (tests/monitoring/images):
# Docker Hub is unreachable here, so prom/prometheus and friends cannot be pulled. Each image keeps the
# upstream image's entrypoint path, user, port and default command, so the role's defaults work with
# either. Tags carry the Debian package's upstream version. Local only: nothing is pushed.
# Idempotent: an unchanged context is skipped ("up to date").
#
#   bash tests/monitoring/build.sh
set -euo pipefail
MON_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../testbed/lib.sh
. "$MON_DIR/../testbed/lib.sh"

case ${1:-} in
  "") ;;
  -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
  *) die "unknown argument: $1 (see --help)" ;;
esac
stack_build_ready

ctx=$MON_DIR/images
started=$SECONDS
# One Dockerfile, one stage per component: the shared install stage is built once, then cached.
build_image aishield-testbed/prometheus:2.42 "$ctx" --target prometheus
build_image aishield-testbed/alertmanager:0.25 "$ctx" --target alertmanager
build_image aishield-testbed/node-exporter:1.5 "$ctx" --target node-exporter
build_image aishield-testbed/postgres-exporter:0.11 "$ctx" --target postgres-exporter
build_image aishield-testbed/redis-exporter:1.45 "$ctx" --target redis-exporter
build_image aishield-testbed/blackbox-exporter:0.23 "$ctx" --target blackbox-exporter
log "monitoring images built in $((SECONDS - started)) s"
