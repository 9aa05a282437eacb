#!/usr/bin/env bash
# The whole test suite, stage by stage, with the time each took.
# Usage: tests/run.sh [stage...]
#   stages: unit lint sanity build integration bench-smoke own-stack molecule molecule-<scenario>,
#   and `lanes` (the default run's two lanes below, without the static stages)
#   With no argument it first builds the test bed (tests/testbed/setup.sh, as `make testbed` does), and
#   once the venv is there the four quick static stages (unit lint sanity build) run side by side with
#   the rest of it, each into its own log that is printed when it ends; then two lanes run side by side,
#   each line of their output prefixed with the lane's name:
#     lane "local":     integration (the fault matrix included), then Molecule default (v1 -> v2 rolling,
#                       as the unprivileged user `deploy`)
#     lane "molecule":  bench-smoke (the benchmarks and the soak, one small round each), own-stack (the
#                       "notes" stack deployed through its description), then Molecule rollback,
#                       maintenance, multihost
#   The split keeps the lanes near equal (2026-12-07: 1301 and 1291 s); every stage uses its own
#   project names, ports and Molecule instances, so lanes share nothing but the test bed.
#   Each lane is one Ansible run at a time (multihost: one run over four hosts), about one core
#   busy on average (vmstat), so two lanes fill the machine's two cores. The static stages stay
#   out of the lanes: lint and sanity use every core they get, and beside them integration
#   slowed from 15 to 21 min and a restore test timed out (2026-11-29).
#   integration needs a Docker engine: without one it fails at once, saying why (tests/integration/conftest.py).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH="${VENV:-$repo/.venv}/bin:$PATH"
export ANSIBLE_CONFIG="$repo/ansible.cfg"

# The default run's two lanes (see the top): stages separated by spaces.
lanes=("local=integration molecule-default"
       "molecule=bench-smoke own-stack molecule-rollback molecule-maintenance molecule-multihost")

run_stage() {
  case "$1" in
    unit) pytest -q -p no:cacheprovider tests/unit ;;
    lint) ansible-lint ;;
    sanity) bash tests/sanity/run.sh ;;
    build) pytest -q -p no:cacheprovider tests/integration/test_collection_build.py ;;
    integration) pytest -q -p no:cacheprovider --durations=30 tests/integration \
                   --deselect tests/integration/test_collection_build.py --deselect tests/integration/test_bench_smoke.py \
                   --deselect tests/integration/test_own_stack.py ;;
    bench-smoke) pytest -q -p no:cacheprovider --durations=5 tests/integration/test_bench_smoke.py ;;
    own-stack) pytest -q -p no:cacheprovider --durations=5 tests/integration/test_own_stack.py ;;
    molecule-*) MOLECULE_SCENARIOS=${1#molecule-} run_stage molecule ;;
    molecule)
      # MOLECULE_SCENARIOS="default" runs one scenario alone.
      for scenario in ${MOLECULE_SCENARIOS:-default rollback maintenance multihost}; do
        echo "=== molecule $scenario: start $(date +%H:%M:%S)"
        local t0=$SECONDS
        molecule test -s "$scenario" || return 1
        echo "=== molecule $scenario: ok in $((SECONDS - t0))s"
      done ;;
    *) echo "unknown stage '$1' (known: unit lint sanity build integration bench-smoke own-stack molecule molecule-<scenario>)" >&2; return 2 ;;
  esac
}

declare -a summary
failed=0

# The machine's CPU use over the run (all processes, the containers' included), from /proc/stat:
# "busy" near 100 % means the run waits for cores, not for anything else.
cpu_ticks() {  # prints "busy total" in clock ticks, or nothing without /proc/stat
  [ -r /proc/stat ] || return 0
  awk '/^cpu /{busy=$2+$3+$4+$7+$8+$9; print busy, busy+$5+$6; exit}' /proc/stat
}
cpu_report() {  # the "busy total" from the start
  local now
  now=$(cpu_ticks)
  [ -n "$1" ] && [ -n "$now" ] || return 0
  set -- $1 $now
  [ $(($4 - $2)) -gt 0 ] || return 0
  echo "cpu: the machine's $(nproc) cores were $(( 100 * ($3 - $1) / ($4 - $2) )) % busy over the run" \
       "($(( ($3 - $1) / $(getconf CLK_TCK) )) of $(( ($4 - $2) / $(getconf CLK_TCK) )) core-seconds)"
}
cpu_start=$(cpu_ticks)
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

# The lines that say why a stage failed: pytest's FAILED/ERROR summary and assertion lines and a run it
# stopped (pytest.exit: no Docker engine), Ansible's fatal/failed task results, Molecule's "Failed" line;
# cut to 400 characters each.
explain_failures() {
  local log stage
  for log in "$stage_logs"/*.log; do
    stage=$(basename "$log" .log)
    [ "$(cat "$stage_logs/$stage.status" 2>/dev/null)" = FAILED ] || continue
    echo "=== why stage $stage failed (from its output above)"
    grep -a -E '^(FAILED|ERROR) |^E +|_pytest\.outcomes\.Exit: |fatal: \[|failed: \[|CRITICAL|ERROR +Ansible return code' "$log" \
      | sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g' | cut -c1-400 | tail -n 40
  done
}

# Several stages side by side (they share no state): start_together launches them, finish_together
# waits, then prints each log whole and records it.
together_stages=() together_pids=() together_start=0
start_together() {
  local logs=$stage_logs stage
  together_stages=("$@") together_pids=() together_start=$SECONDS
  echo "=== stages $*: start together $(date +%H:%M:%S)"
  for stage in "$@"; do
    ( s=$SECONDS; run_stage "$stage" >"$logs/$stage.log" 2>&1; rc=$?; echo $((SECONDS - s)) >"$logs/$stage.time"; exit $rc ) &
    together_pids+=($!)
  done
}
finish_together() {
  local logs=$stage_logs stage i=0
  for stage in "${together_stages[@]}"; do
    local status=ok
    wait "${together_pids[$i]}" || status=FAILED
    i=$((i + 1))
    echo "=== stage $stage output"
    cat "$logs/$stage.log"
    record "$stage" "$status" "$(cat "$logs/$stage.time" 2>/dev/null || echo $((SECONDS - together_start)))"
  done
}

# The default run builds the test bed itself (tests/testbed/setup.sh, step by step): the engine and the
# base image beside the venv, then the static stages, which need only the venv, beside the rest of the
# test bed (services, stack and host images: minutes on a new machine); the lanes start once both end.
testbed_and_static() {
  local bed_log bed_pid bed_status=ok start=$SECONDS
  bed_log=$(mktemp)
  echo "=== stage testbed: start $(date +%H:%M:%S)"
  ( bash tests/testbed/setup.sh engine base ) >"$bed_log" 2>&1 &
  bed_pid=$!
  bash tests/testbed/setup.sh venv || bed_status=FAILED
  if [ $bed_status = ok ]; then
    start_together unit lint sanity build
  fi
  wait $bed_pid || bed_status=FAILED
  echo "=== testbed: engine and base image"
  cat "$bed_log"; rm -f "$bed_log"
  if [ $bed_status = ok ]; then
    bash tests/testbed/setup.sh services stack host || bed_status=FAILED
  fi
  record testbed $bed_status $((SECONDS - start))
  [ ${#together_stages[@]} -eq 0 ] || finish_together
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
  testbed_and_static
  [ $failed = 0 ] && run_lanes "${lanes[@]}"
fi
echo "=== stage times"
printf '%s\n' "${summary[@]}"
cpu_report "$cpu_start"
# The same suite has cost 2,100 to 4,300 core-seconds on this kind of machine, on different days: the speed of
# one Ansible task, measured once the run's own processes are gone, says which kind of day it was.
if [ $# -eq 0 ]; then
  python tests/bench/task_cost.py --probe 2>/dev/null || echo "machine speed: not measured (task_cost.py --probe failed)"
fi
[ $failed = 0 ] || explain_failures
exit $failed
