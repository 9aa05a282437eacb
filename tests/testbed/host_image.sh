#!/usr/bin/env bash
# Build the Docker-in-Docker "production host" image used by Molecule.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
HOST_IMAGE=aishield-testbed/host:latest
ctx="$TESTBED_STATE/host-context"
mkdir -p "$ctx"
cp "$TESTBED_DIR"/host/* "$ctx/"
plugin=/usr/libexec/docker/cli-plugins/docker-compose
[ -x "$plugin" ] || plugin=$(docker info -f '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}' 2>/dev/null)
[ -x "$plugin" ] || die "no compose v2 plugin found to copy into the host image; run tests/testbed/engine.sh first"
cp "$plugin" "$ctx/docker-compose"
build_image "$HOST_IMAGE" "$ctx"
