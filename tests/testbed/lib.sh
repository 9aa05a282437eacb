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
