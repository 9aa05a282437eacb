#!/usr/bin/env bash
# The test bed's one idempotent entry point: each step skips what is already there.
# Steps: venv, engine (Docker + compose v2), base image, services (registry, registry with login, S3, receiver),
# stack images (built and pushed, then pulled back through the login registry; monitoring images built locally),
# host image (Docker-in-Docker).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
steps=("$@")
venv_pid=""
if [ ${#steps[@]} -eq 0 ]; then
  # A new machine spends minutes in pip and in apt/debootstrap: the venv builds beside the
  # engine and base image (they share nothing), and is waited for before the services need it.
  venv_log=$(mktemp)
  ( start=$(date +%s); bash "$TESTBED_DIR/venv.sh"; rc=$?; log "step venv took $(( $(date +%s) - start )) s"; exit $rc ) >"$venv_log" 2>&1 &
  venv_pid=$!
  steps=(engine base wait-venv services stack host)
fi
for step in "${steps[@]}"; do
  start=$(date +%s)
  case "$step" in
    venv) bash "$TESTBED_DIR/venv.sh" ;;
    wait-venv)
      venv_rc=0; wait "$venv_pid" || venv_rc=$?
      cat "$venv_log"; rm -f "$venv_log"
      [ "$venv_rc" = 0 ] || die "the venv step failed (its output is above)"
      continue ;;
    engine) bash "$TESTBED_DIR/engine.sh" ;;
    base) bash "$TESTBED_DIR/base_image.sh" ;;
    services) bash "$TESTBED_DIR/services.sh" ;;
    stack)
      bash "$REPO_ROOT/tests/stack/build.sh"
      # The "notes" stack (a second, differently shaped one); its pg and edge reuse the images above.
      bash "$REPO_ROOT/tests/stack2/build.sh"
      # Prometheus, Alertmanager and exporters from Debian packages (upstream entrypoints); local only, not pushed.
      bash "$REPO_ROOT/tests/monitoring/build.sh"
      # The login registry shares the open one's store: what was just pushed must pull after a login.
      bash "$TESTBED_DIR/registry_auth_check.sh" ;;
    host) bash "$TESTBED_DIR/host_image.sh" ;;
    *) die "unknown step '$step' (known: venv engine base services stack host)" ;;
  esac
  log "step $step took $(( $(date +%s) - start )) s"
done
