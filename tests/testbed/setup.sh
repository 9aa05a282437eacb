#!/usr/bin/env bash
# The test bed's one idempotent entry point: each step skips what is already there.
# Steps: venv, engine (Docker + compose v2), base image, services (registry, S3, receiver),
# stack images (built and pushed), host image (Docker-in-Docker).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(venv engine base services stack host)
for step in "${steps[@]}"; do
  start=$(date +%s)
  case "$step" in
    venv) bash "$TESTBED_DIR/venv.sh" ;;
    engine) bash "$TESTBED_DIR/engine.sh" ;;
    base) bash "$TESTBED_DIR/base_image.sh" ;;
    services) bash "$TESTBED_DIR/services.sh" ;;
    stack) bash "$REPO_ROOT/tests/stack/build.sh" ;;
    host) bash "$TESTBED_DIR/host_image.sh" ;;
    *) die "unknown step '$step' (known: venv engine base services stack host)" ;;
  esac
  log "step $step took $(( $(date +%s) - start )) s"
done
