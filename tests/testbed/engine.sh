#!/usr/bin/env bash
# Ensure a Docker Engine and the Compose v2 plugin answer (TESTBED.md has the facts).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_engine() {
  if docker info >/dev/null 2>&1; then
    log "engine: already answering ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
    return
  fi
  is_debian || die "No Docker Engine answers and this is not Debian: install Docker Engine (https://docs.docker.com/engine/install/) and start it, then rerun."
  need_root "install and start Docker Engine"
  if ! command -v dockerd >/dev/null 2>&1; then
    log "engine: installing docker.io from Debian"
    apt_install docker.io
  fi
  log "engine: starting dockerd (log: /var/log/dockerd.log)"
  # No systemd here: start the daemon ourselves and remember its pid for teardown.
  nohup dockerd --host unix:///var/run/docker.sock >/var/log/dockerd.log 2>&1 &
  echo $! >"$TESTBED_STATE/dockerd.pid"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { log "engine: up"; return; }
    sleep 1
  done
  die "dockerd did not answer within 60 s; see /var/log/dockerd.log"
}

ensure_compose() {
  if docker compose version >/dev/null 2>&1; then
    log "compose: $(docker compose version --short 2>/dev/null)"
    return
  fi
  is_debian || die "The Docker Compose v2 plugin is missing: install docker-compose-plugin (https://docs.docker.com/compose/install/linux/), then rerun."
  need_root "install the Compose v2 plugin"
  log "compose: fetching docker-compose from Debian trixie (bookworm only has v1)"
  local mirror d o
  mirror=$(debian_mirror)
  d=$(mktemp -d)
  echo "deb $mirror trixie main" >"$d/sources.list"
  mkdir -p "$d/lists/partial"
  # A private apt state keeps the system's sources untouched.
  o=(-o "Dir::Etc::sourcelist=$d/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$d/lists")
  apt-get "${o[@]}" -qq update
  (cd "$d" && apt-get "${o[@]}" -qq download docker-compose)
  dpkg -x "$d"/docker-compose_*.deb "$d/x"
  install -D -m 0755 "$d/x/usr/libexec/docker/cli-plugins/docker-compose" /usr/libexec/docker/cli-plugins/docker-compose
  rm -rf "$d"
  docker compose version >/dev/null || die "compose plugin installed but 'docker compose version' fails"
  log "compose: $(docker compose version --short)"
}

ensure_engine
ensure_compose
