# Shared helpers for the test bed scripts. Sourced, not run.
TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TESTBED_DIR/../.." && pwd)
TESTBED_STATE=${TESTBED_STATE:-/var/tmp/aishield-testbed}
mkdir -p "$TESTBED_STATE"

log() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[testbed] ERROR: %s\n' "$*" >&2; exit 1; }

is_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "Run as root (sudo) to $1: this step installs Debian packages and starts daemons."
}

debian_mirror() {
  local m=""
  [ -r /etc/apt/sources.list.d/debian.sources ] && m=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources | head -1)
  [ -n "$m" ] || m=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${m:-http://deb.debian.org/debian}"
}

apt_updated=""
# setup.sh builds the venv beside the engine step: both may install packages, so apt runs one at a time.
apt_install() {
  local lock=/var/lock/aishield-testbed-apt.lock
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive flock -w 900 "$lock" apt-get -qq update
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive flock -w 900 "$lock" apt-get -qq install -y --no-install-recommends "$@" >/dev/null
}

# port_free PORT NAME: fail naming the port when something else listens on 127.0.0.1:PORT.
port_owner() {
  ss -Hltnp "sport = :$1" 2>/dev/null | head -1
}

BASE_IMAGE=aishield-testbed/base:bookworm
NETWORK=aishield-testbed
REGISTRY=127.0.0.1:5000
# The registry that requires a login: the same store as $REGISTRY, behind htpasswd basic auth.
AUTH_REGISTRY=127.0.0.1:5001
# Its credentials, made once per machine by services.sh (mode 0600, never printed):
#   {"registry": "127.0.0.1:5001", "alias": "registry-auth:5001", "username": "aishield-ci", "password": "..."}
# Tests read this JSON file; "alias" is the name hosts on the docker network $NETWORK use.
REGISTRY_AUTH_FILE=$TESTBED_STATE/registry-auth.json

# registry_auth_field KEY: one field of $REGISTRY_AUTH_FILE on stdout (pipe the password, never pass it as an argument).
registry_auth_field() {
  [ -r "$REGISTRY_AUTH_FILE" ] || die "no registry credentials at $REGISTRY_AUTH_FILE; run: bash tests/testbed/setup.sh services"
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$REGISTRY_AUTH_FILE" "$1"
}

# registry_auth_login DOCKER_CONFIG_DIR [REGISTRY]: docker login with the test bed's credentials,
# stored in DOCKER_CONFIG_DIR (not ~/.docker). The password reaches docker on stdin only.
registry_auth_login() {
  local dir=$1 reg=${2:-$AUTH_REGISTRY} user out
  user=$(registry_auth_field username)
  if ! out=$(registry_auth_field password | DOCKER_CONFIG=$dir timeout 60 docker login -u "$user" --password-stdin "$reg" 2>&1); then
    printf '%s\n' "$out" >&2
    die "docker login to $reg as $user failed (output above)"
  fi
}

# context_hash DIR [EXTRA...]: a stable hash of a build context, its args and its base image.
context_hash() {
  local dir=$1; shift
  {
    (cd "$dir" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    printf '%s\n' "$@"
    docker image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true
  } | sha256sum | cut -c1-16
}

# build_image TAG CONTEXT_DIR [docker build args...]
# Skips the build when TAG already carries the same context hash (cache across runs).
build_image() {
  local tag=$1 ctx=$2; shift 2
  local want have
  want=$(context_hash "$ctx" "$@")
  have=$(docker image inspect -f '{{index .Config.Labels "org.aishield.context"}}' "$tag" 2>/dev/null || true)
  if [ "$want" = "$have" ]; then
    log "image $tag: up to date"
    return 0
  fi
  log "image $tag: building"
  local out
  out=$(mktemp)
  if ! docker build -q --label "org.aishield.context=$want" --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$tag" "$@" "$ctx" >"$out" 2>&1; then
    cat "$out" >&2; rm -f "$out"
    die "building $tag from $ctx failed (output above)"
  fi
  rm -f "$out"
  log "image $tag: built"
}

# push_image LOCAL_TAG REPO:TAG -> pushes to the local registry; a no-op when layers are there.
push_image() {
  local src=$1 dst="$REGISTRY/$2"
  docker tag "$src" "$dst"
  docker push -q "$dst" >/dev/null || die "push of $dst failed; is the registry up (make testbed)?"
}

# The image builds' shared frame (tests/stack/build.sh, tests/stack2/build.sh).
# stack_push_mode ARGS...: sets STACK_PUSH to auto|yes|no from --push/--no-push; --help prints the caller's header.
stack_push_mode() {
  local arg
  STACK_PUSH=auto
  for arg in "$@"; do
    case $arg in
      --no-push) STACK_PUSH=no ;;
      --push) STACK_PUSH=yes ;;
      -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
      *) die "unknown argument: $arg (see --help)" ;;
    esac
  done
}

# stack_context SRC MANIFEST NAME: a private copy of build context SRC with the release manifest beside it
# (the manifest stays in one place), without __pycache__; prints its path. The caller removes it.
stack_context() {
  local ctx
  ctx=$(mktemp -d "$TESTBED_STATE/$3.XXXXXX")  # private: parallel runs don't collide
  cp -a "$1/." "$ctx/"
  cp "$2" "$ctx/versions.json"
  find "$ctx" -name __pycache__ -type d -prune -exec rm -rf {} +
  printf '%s\n' "$ctx"
}

# stack_build_ready: the engine answers and the base image exists (built when missing).
stack_build_ready() {
  command -v docker >/dev/null 2>&1 || die "docker CLI not found"
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info failed); start it first"
  if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "base image $BASE_IMAGE missing: building it"
    bash "$TESTBED_DIR/base_image.sh"
  fi
}

# stack_push MODE WHAT IMAGE...: push to the local registry (MODE from stack_push_mode); `auto` skips a
# registry that does not answer, `yes` fails on it, `no` pushes nothing. WHAT names the images in the log.
stack_push() {
  local mode=$1 what=$2 began=$SECONDS img; shift 2
  if [ "$mode" = no ]; then
    log "push skipped (--no-push)"
    return 0
  fi
  if ! curl -sf -m 3 -o /dev/null "http://$REGISTRY/v2/"; then
    [ "$mode" = yes ] && die "registry $REGISTRY does not answer; cannot --push"
    log "registry $REGISTRY does not answer: built only, nothing pushed"
    return 0
  fi
  for img in "$@"; do
    push_image "$img" "$img"
    log "pushed $REGISTRY/$img"
  done
  log "$what pushed to $REGISTRY in $((SECONDS - began)) s"
}
