#!/usr/bin/env bash
# The whole test suite, stage by stage, with the time each took.
# Usage: tests/run.sh [stage...]
#   stages: unit lint sanity build integration molecule extended
#   With no argument the four quick static stages (unit lint sanity build) run side by side,
#   each into its own log that is printed when it ends, then integration, then molecule.
#   Nothing runs beside integration or Molecule: on 2 cores a second job slowed integration
#   from 15 to 21 min and one restore test timed out (2026-11-29).
#   `extended` is not part of the default run (CI time): the fault matrix, the maintenance and
#   DR-drill suites on the local engine, and the Molecule `maintenance` scenario.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="${VENV:-$repo/.venv}/bin:$PATH"
export ANSIBLE_CONFIG="$repo/ansible.cfg"

# Slow suites kept out of the default run until they fit the CI budget.
extended_tests=(tests/integration/test_faults.py tests/integration/test_maintenance.py tests/integration/test_dr_drill.py)

run_stage() {
  case "$1" in
    unit) pytest -q -p no:cacheprovider tests/unit ;;
    lint) ansible-lint ;;
    sanity) bash tests/sanity/run.sh ;;
    build) pytest -q -p no:cacheprovider tests/integration/test_collection_build.py ;;
    integration) pytest -q -p no:cacheprovider --durations=15 tests/integration --deselect tests/integration/test_collection_build.py \
                   "${extended_tests[@]/#/--deselect=}" ;;
    extended)
      pytest -q -p no:cacheprovider --durations=15 "${extended_tests[@]}" || return 1
      MOLECULE_SCENARIOS=maintenance run_stage molecule ;;
    molecule)
      # `deploy` covers what `default` does (its checks run in deploy's verify) and more;
      # MOLECULE_SCENARIOS="default" runs the plain first deploy alone.
      for scenario in ${MOLECULE_SCENARIOS:-deploy rollback}; do
        echo "=== molecule $scenario: start $(date +%H:%M:%S)"
        local t0=$SECONDS
        molecule test -s "$scenario" || return 1
        echo "=== molecule $scenario: ok in $((SECONDS - t0))s"
      done ;;
    *) echo "unknown stage '$1' (known: unit lint sanity build integration molecule extended)" >&2; return 2 ;;
  esac
}

declare -a summary
failed=0

record() {  # stage status seconds
  echo "=== stage $1: $2 in $3s"
  summary+=("$(printf '%-12s %-7s %5ss' "$1" "$2" "$3")")
  [ "$2" = ok ] || failed=1
}

# One stage in the foreground, output straight to the console.
run_one() {
  echo "=== stage $1: start $(date +%H:%M:%S)"
  local start=$SECONDS status=ok
  run_stage "$1" || status=FAILED
  record "$1" "$status" $((SECONDS - start))
}

# Several stages side by side (they share no state); each log is printed whole when all end.
run_together() {
  local logs pids=() start=$SECONDS stage i=0
  logs=$(mktemp -d)
  echo "=== stages $*: start together $(date +%H:%M:%S)"
  for stage in "$@"; do
    ( s=$SECONDS; run_stage "$stage" >"$logs/$stage.log" 2>&1; rc=$?; echo $((SECONDS - s)) >"$logs/$stage.time"; exit $rc ) &
    pids+=($!)
  done
  for stage in "$@"; do
    local status=ok
    wait "${pids[$i]}" || status=FAILED
    i=$((i + 1))
    echo "=== stage $stage output"
    cat "$logs/$stage.log"
    record "$stage" "$status" "$(cat "$logs/$stage.time" 2>/dev/null || echo $((SECONDS - start)))"
  done
  rm -rf "$logs"
}

if [ $# -gt 0 ]; then
  for stage in "$@"; do
    run_one "$stage"
    # Later stages build on earlier ones; stop at the first failure so the cause is on screen.
    [ $failed = 0 ] || break
  done
else
  run_together unit lint sanity build
  [ $failed = 0 ] && run_one integration
  [ $failed = 0 ] && run_one molecule
fi
echo "=== stage times"
printf '%s\n' "${summary[@]}"
exit $failed
