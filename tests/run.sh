#!/usr/bin/env bash
# The whole test suite, stage by stage, with the time each took.
# Usage: tests/run.sh [stage...]
#   stages: unit lint sanity build integration molecule molecule-<scenario> extended,
#   and `lanes` (the default run's two lanes below, without the static stages)
#   With no argument the four quick static stages (unit lint sanity build) run side by side,
#   each into its own log that is printed when it ends; then two lanes run side by side, each
#   line of their output prefixed with the lane's name:
#     lane "local":     integration (the fault matrix included), then Molecule deploy
#     lane "molecule":  Molecule rollback, then maintenance, then multihost
#   Each lane is one Ansible run at a time (multihost: one run over four hosts), about one core
#   busy on average (vmstat), so two lanes fill the machine's two cores. The static stages stay
#   out of the lanes: lint and sanity use every core they get, and beside them integration
#   slowed from 15 to 21 min and a restore test timed out (2026-11-29).
#   `extended` is not part of the default run: the maintenance and DR-drill suites on the local
#   engine, which the Molecule `maintenance` scenario covers on Docker-in-Docker hosts.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="${VENV:-$repo/.venv}/bin:$PATH"
export ANSIBLE_CONFIG="$repo/ansible.cfg"

# Suites kept out of the default run: the Molecule maintenance scenario proves the same roles.
extended_tests=(tests/integration/test_maintenance.py tests/integration/test_dr_drill.py)
# The default run's two lanes (see the top): stages separated by spaces.
lanes=("local=integration molecule-deploy" "molecule=molecule-rollback molecule-maintenance molecule-multihost")

run_stage() {
  case "$1" in
    unit) pytest -q -p no:cacheprovider tests/unit ;;
    lint) ansible-lint ;;
    sanity) bash tests/sanity/run.sh ;;
    build) pytest -q -p no:cacheprovider tests/integration/test_collection_build.py ;;
    integration) pytest -q -p no:cacheprovider --durations=15 tests/integration --deselect tests/integration/test_collection_build.py \
                   "${extended_tests[@]/#/--deselect=}" ;;
    extended) pytest -q -p no:cacheprovider --durations=15 "${extended_tests[@]}" ;;
    molecule-*) MOLECULE_SCENARIOS=${1#molecule-} run_stage molecule ;;
    molecule)
      # `deploy` covers what `default` does (its checks run in deploy's verify) and more;
      # MOLECULE_SCENARIOS="default" runs the plain first deploy alone.
      for scenario in ${MOLECULE_SCENARIOS:-deploy rollback maintenance multihost}; do
        echo "=== molecule $scenario: start $(date +%H:%M:%S)"
        local t0=$SECONDS
        molecule test -s "$scenario" || return 1
        echo "=== molecule $scenario: ok in $((SECONDS - t0))s"
      done ;;
    *) echo "unknown stage '$1' (known: unit lint sanity build integration molecule molecule-<scenario> extended)" >&2; return 2 ;;
  esac
}

declare -a summary
failed=0
# Each stage's output is also kept here, so a failed stage's cause can be repeated at the very end:
# CI shows the tail of a long run, and a failure 20 minutes up is out of sight.
stage_logs=$(mktemp -d)
trap 'rm -rf "$stage_logs"' EXIT

record() {  # stage status seconds
  echo "=== stage $1: $2 in $3s"
  echo "$2" >"$stage_logs/$1.status"
  summary+=("$(printf '%-12s %-7s %5ss' "$1" "$2" "$3")")
  [ "$2" = ok ] || failed=1
}

# One stage in the foreground, output to the console and to its log.
run_one() {
  echo "=== stage $1: start $(date +%H:%M:%S)"
  local start=$SECONDS status=ok
  run_stage "$1" 2>&1 | tee "$stage_logs/$1.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=FAILED
  record "$1" "$status" $((SECONDS - start))
}

# The lines that say why a stage failed: pytest's FAILED/ERROR summary and assertion lines,
# Ansible's fatal/failed task results, Molecule's "Failed" line; cut to 400 characters each.
explain_failures() {
  local log stage
  for log in "$stage_logs"/*.log; do
    stage=$(basename "$log" .log)
    [ "$(cat "$stage_logs/$stage.status" 2>/dev/null)" = FAILED ] || continue
    echo "=== why stage $stage failed (from its output above)"
    grep -a -E '^(FAILED|ERROR) |^E +|fatal: \[|failed: \[|CRITICAL|ERROR +Ansible return code' "$log" \
      | sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' | cut -c1-400 | tail -n 40
  done
}

# Several stages side by side (they share no state); each log is printed whole when all end.
run_together() {
  local logs=$stage_logs pids=() start=$SECONDS stage i=0
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
}

# Lanes side by side, each running its stages with run_one and stopping at its first failure.
# Output streams live, every line prefixed "[lane] ", so a human can follow both. A lane hands
# its stage times back in a file written when it ends: a lane killed part-way leaves none.
run_lanes() {  # name=stages...
  local results spec name pids=() names=() times
  results=$(mktemp -d)
  for spec in "$@"; do
    name=${spec%%=*}
    names+=("$name")
    (
      summary=()
      for stage in ${spec#*=}; do
        run_one "$stage" </dev/null
        [ $failed = 0 ] || break
      done
      printf '%s\n' "${summary[@]}" >"$results/$name"
    ) 2>&1 | sed -u "s/^/[$name] /" &
    pids+=($!)
  done
  wait "${pids[@]}"
  for name in "${names[@]}"; do
    if [ -s "$results/$name" ]; then
      mapfile -t times <"$results/$name"
      summary+=("${times[@]}")
      ! grep -q ' FAILED ' "$results/$name" || failed=1
    else
      record "lane-$name" FAILED 0
    fi
  done
  rm -rf "$results"
}

if [ $# -gt 0 ]; then
  for stage in "$@"; do
    if [ "$stage" = lanes ]; then run_lanes "${lanes[@]}"; else run_one "$stage"; fi
    # Later stages build on earlier ones; stop at the first failure so the cause is on screen.
    [ $failed = 0 ] || break
  done
else
  run_together unit lint sanity build
  [ $failed = 0 ] && run_lanes "${lanes[@]}"
fi
echo "=== stage times"
printf '%s\n' "${summary[@]}"
[ $failed = 0 ] || explain_failures
exit $failed
