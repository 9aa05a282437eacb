#!/usr/bin/env bash
# Ensure a Docker Engine, the Compose v2 plugin and the buildx plugin answer (TESTBED.md has the facts).
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

# Installs one Docker CLI plugin (docker-<plugin>) from Debian trixie's package <package>: a static Go binary.
install_trixie_plugin() {  # package plugin
  local mirror d o
  mirror=$(debian_mirror)
  d=$(mktemp -d)
  echo "deb $mirror trixie main" >"$d/sources.list"
  mkdir -p "$d/lists/partial"
  # A private apt state keeps the system's sources untouched; it is root's 0700 directory, so apt downloads as root.
  o=(-o "Dir::Etc::sourcelist=$d/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$d/lists"
     -o "APT::Sandbox::User=root")
  apt-get "${o[@]}" -qq update
  (cd "$d" && apt-get "${o[@]}" -qq download "$1")
  dpkg -x "$d/$1"_*.deb "$d/x"
  install -D -m 0755 "$d/x/usr/libexec/docker/cli-plugins/docker-$2" "/usr/libexec/docker/cli-plugins/docker-$2"
  rm -rf "$d"
}

ensure_compose() {
  if docker compose version >/dev/null 2>&1; then
    log "compose: $(docker compose version --short 2>/dev/null)"
    return
  fi
  is_debian || die "The Docker Compose v2 plugin is missing: install docker-compose-plugin (https://docs.docker.com/compose/install/linux/), then rerun."
  need_root "install the Compose v2 plugin"
  log "compose: fetching docker-compose from Debian trixie (bookworm only has v1)"
  install_trixie_plugin docker-compose compose
  docker compose version >/dev/null || die "compose plugin installed but 'docker compose version' fails"
  log "compose: $(docker compose version --short)"
}

# BuildKit through the buildx plugin (community.docker.docker_image_build): bookworm has none. It uses the daemon's
# own BuildKit (the `docker` driver), so no builder image is pulled.
ensure_buildx() {
  local driver
  if ! docker buildx version >/dev/null 2>&1; then
    is_debian || die "The Docker buildx plugin is missing: install docker-buildx-plugin (https://docs.docker.com/engine/install/), then rerun."
    need_root "install the buildx plugin"
    log "buildx: fetching docker-buildx from Debian trixie (bookworm has none)"
    install_trixie_plugin docker-buildx buildx
    docker buildx version >/dev/null || die "buildx plugin installed but 'docker buildx version' fails"
  fi
  driver=$(buildx_driver)  # an assignment, so that set -e stops on its failure
  log "buildx: $(docker buildx version | awk '{print $2}'), $driver"
}

# The default builder must be the engine's own BuildKit (driver docker): docker-container would pull moby/buildkit.
buildx_driver() {
  local out
  out=$(docker buildx inspect default 2>&1) || die "'docker buildx inspect default' fails: $out"
  grep -Eq '^Driver: +docker$' <<<"$out" || die "the default buildx builder does not use the docker driver: $out"
  grep -Eq '^Status: +running$' <<<"$out" || die "the default buildx builder is not running: $out"
  echo "builder default (docker driver, the engine's BuildKit)"
}

ensure_engine
ensure_compose
ensure_buildx
