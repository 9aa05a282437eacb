#!/usr/bin/env bash
# Create .venv with the pinned controller + test requirements (skipped when up to date).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
venv=${VENV:-$REPO_ROOT/.venv}
stamp="$venv/.requirements.sha256"
want=$(cat "$REPO_ROOT"/requirements/*.txt "$REPO_ROOT/requirements.txt" | sha256sum | cut -c1-16)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "venv: up to date ($venv)"
  exit 0
fi
py=${PYTHON:-python3}
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "Python >= 3.11 is needed for ansible-core 2.19 (found: $("$py" --version 2>&1)). Install python3.11 or set PYTHON=/path/to/python3.11."
if ! "$py" -m venv --help >/dev/null 2>&1 || ! "$py" -c 'import ensurepip' 2>/dev/null; then
  is_debian || die "python3 -m venv is unavailable: install your distribution's python3-venv package, then rerun."
  need_root "install python3-venv"
  apt_install python3-venv
fi
log "venv: installing pinned requirements into $venv (a few minutes the first time)"
"$py" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
# The machine's pip.conf may list local mirrors that do not exist; their warnings are noise.
"$venv/bin/pip" install -q -r "$REPO_ROOT/requirements/test.txt" 2> >(grep -v 'is ignored: it is neither' >&2)
echo "$want" >"$stamp"
log "venv: ready ($("$venv/bin/ansible" --version | head -1))"
