#!/usr/bin/env bash
# Run ansible-test sanity on a copy of the collection laid out at
# ansible_collections/aishield/ops (ansible-test needs the real path, not a symlink).
# Usage: tests/sanity/run.sh [ansible-test sanity args...]   e.g. --test validate-modules
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VENV:-$repo/.venv}
work=$(mktemp -d /tmp/aishield-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/aishield/ops"
mkdir -p "$dest"
# Only what git tracks or would add: no venv, caches or the .collections symlink.
# tests/stack, tests/monitoring and tests/testbed are container contents and shell for the test bed,
# not collection code; the collection tarball leaves them out too (galaxy.yml build_ignore).
(cd "$repo" && git ls-files -co --exclude-standard -z | grep -zvE '^(\.collections|tests/stack2?|tests/testbed|tests/monitoring)/' \
  | xargs -0 -I{} cp --parents -P {} "$dest/")
# ansible-test bootstraps pip in the venvs it makes (the import test) with a get-pip
# script from a host this network cannot reach; an ensurepip stand-in does the same job.
pip_version=$(sed -n "s/^ *pip='\\([0-9.]*\\)',/\\1/p" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1)
[ -n "$pip_version" ] || { echo "cannot tell which pip ansible-test bootstraps" >&2; exit 1; }
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
[ -f "$cache" ] || install -D -m 0644 "$repo/tests/sanity/get_pip_offline.py" "$cache"
cd "$dest"
# ansible-test wants a git-like file list; a fresh repo gives it one.
git init -q && git add -A >/dev/null
PATH="$venv/bin:$PATH" ansible-test sanity --local --requirements --python 3.11 --color no "${@}"
