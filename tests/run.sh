#!/usr/bin/env bash
# The whole test suite, stage by stage, with the time each took.
# Usage: tests/run.sh [stage...]   stages: unit lint sanity build integration molecule
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="${VENV:-$repo/.venv}/bin:$PATH"
export ANSIBLE_CONFIG="$repo/ansible.cfg"
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(unit lint sanity build integration molecule)

run_stage() {
  case "$1" in
    unit) pytest -q -p no:cacheprovider tests/unit ;;
    lint) ansible-lint ;;
    sanity) bash tests/sanity/run.sh ;;
    build) pytest -q -p no:cacheprovider tests/integration/test_collection_build.py ;;
    integration) pytest -q -p no:cacheprovider --durations=15 tests/integration --deselect tests/integration/test_collection_build.py ;;
    molecule)
      # `deploy` covers what `default` does (its checks run in deploy's verify) and more;
      # MOLECULE_SCENARIOS="default" runs the plain first deploy alone.
      for scenario in ${MOLECULE_SCENARIOS:-deploy rollback}; do molecule test -s "$scenario" || return 1; done ;;
    *) echo "unknown stage '$1' (known: unit lint sanity build integration molecule)" >&2; return 2 ;;
  esac
}

declare -a summary
failed=0
for stage in "${stages[@]}"; do
  echo "=== stage $stage: start $(date +%H:%M:%S)"
  start=$(date +%s)
  if run_stage "$stage"; then status=ok; else status=FAILED; failed=1; fi
  took=$(( $(date +%s) - start ))
  echo "=== stage $stage: $status in ${took}s"
  summary+=("$(printf '%-12s %-7s %5ss' "$stage" "$status" "$took")")
  # Later stages build on earlier ones; stop at the first failure so the cause is on screen.
  [ "$status" = ok ] || break
done
echo "=== stage times"
printf '%s\n' "${summary[@]}"
exit $failed
