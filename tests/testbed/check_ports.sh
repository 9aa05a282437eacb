#!/usr/bin/env bash
# check_ports.sh PROJECT PORT...: fail, naming the port, when a loopback port the demo
# publishes is taken by anything but PROJECT's own containers (a rerun of the demo is fine).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
project=$1; shift
for port in "$@"; do
  owner=$(port_owner "$port")
  [ -n "$owner" ] || continue
  ours=$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter "publish=$port" 2>/dev/null || true)
  [ -n "$ours" ] || die "port 127.0.0.1:$port, which the demo stack publishes, is already taken: $owner. Free it, or set aishield_http_port / aishield_frontend_port, then rerun."
done
