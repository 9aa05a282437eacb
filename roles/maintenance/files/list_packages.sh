# shellcheck shell=sh
# The packages of the container this runs in, for the monthly report; no secret is read.
# First line: the source (pip, python-metadata or dpkg). Then pip's JSON, or "name<TAB>version" per package;
# aishield.ops.maintenance_dependency_rows reads both. Images without pip are read by list_distributions.py,
# which comes on stdin.
if command -v pip >/dev/null 2>&1; then
  echo pip
  pip list --format json
else
  out=$(python3 - 2>/dev/null)
  if [ -n "$out" ]; then
    echo python-metadata
    printf '%s\n' "$out"
  else
    echo dpkg
    dpkg-query -W -f '${Package}\t${Version}\n'
  fi
fi
