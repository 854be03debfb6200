#!/usr/bin/env bash
# Soak the property-based fuzz harnesses (src/fuzz_tests.rs) for a while each.
#
# `cargo test` runs every harness for a few dozen cases; this runs each one
# for minutes, in batches of PROPTEST_CASES cases with a fresh random seed
# per batch, and prints a tally: batches, cases, failures. A failing batch's
# output (proptest prints the minimal failing input) is kept in the log
# directory.
#
# Usage: bench/fuzz_soak.sh [--minutes M | --seconds S] [--batch N]
#                           [--logs DIR] [HARNESS...]
#   --minutes M   time per harness (default 10, or $FUZZ_MINUTES)
#   --seconds S   time per harness in seconds (overrides --minutes)
#   --batch N     cases per batch (default 200, or $FUZZ_BATCH)
#   --logs DIR    where failing batches are saved (default: a new temp dir)
#   HARNESS       names (or substrings) of harnesses to run; default: all
#                 `fuzz_tests::fuzz_*` tests
# Exit status: 0 when no batch failed, 1 when one did, 2 on a usage error.
set -euo pipefail

seconds=$(( ${FUZZ_MINUTES:-10} * 60 ))
batch=${FUZZ_BATCH:-200}
logs=""
only=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) seconds=$(( $2 * 60 )); shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        --logs) logs=$2; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz_soak: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) only+=("$1"); shift ;;
    esac
done
case "$seconds$batch" in
    *[!0-9]*) echo "fuzz_soak: --minutes/--seconds and --batch take whole numbers" >&2; exit 2 ;;
esac
[ "$batch" -gt 0 ] || { echo "fuzz_soak: --batch must be at least 1" >&2; exit 2; }

cd "$(dirname "$0")/.."
logs=${logs:-$(mktemp -d /tmp/lifeboat-fuzz-soak.XXXXXX)}
mkdir -p "$logs"

# Build the library's test binary once and run it directly: no cargo (and
# no rebuild check) between batches.
echo "building the test binary..." >&2
bin=$(cargo test --lib --no-run 2>&1 | tee "$logs/build.log" \
    | sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))$/\1/p' | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "fuzz_soak: could not build the test binary; see $logs/build.log" >&2
    exit 2
fi
# A copy of its own: a build in this tree during the soak (an hour or more)
# replaces the binary under target/, and every later batch would fail.
cp "$bin" "$logs/lifeboat-tests"
bin="$logs/lifeboat-tests"

mapfile -t all < <("$bin" --list 'fuzz_tests::fuzz_' 2>/dev/null | sed -n 's/: test$//p')
harnesses=()
for h in "${all[@]}"; do
    if [ ${#only[@]} -eq 0 ]; then
        harnesses+=("$h")
        continue
    fi
    for o in "${only[@]}"; do
        case "$h" in *"$o"*) harnesses+=("$h"); break ;; esac
    done
done
if [ ${#harnesses[@]} -eq 0 ]; then
    echo "fuzz_soak: no harness matches ${only[*]:-} (have: ${all[*]})" >&2
    exit 2
fi

echo "soaking ${#harnesses[@]} harness(es), ${seconds}s each, batches of $batch cases; logs in $logs" >&2
total_failures=0
rows=()
for h in "${harnesses[@]}"; do
    start=$(date +%s)
    deadline=$(( start + seconds ))
    batches=0 cases=0 failures=0 first=""
    while :; do
        now=$(date +%s)
        left=$(( deadline - now ))
        [ "$left" -gt 0 ] || break
        out="$logs/${h##*::}.$batches.log"
        set +e
        # A batch still running at the deadline is stopped and not counted.
        PROPTEST_CASES=$batch timeout "$left" "$bin" --exact "$h" --test-threads=1 >"$out" 2>&1
        rc=$?
        set -e
        if [ "$rc" -eq 124 ]; then
            rm -f "$out"
            break
        fi
        batches=$(( batches + 1 ))
        if [ "$rc" -eq 0 ]; then
            cases=$(( cases + batch ))
            rm -f "$out"
        else
            failures=$(( failures + 1 ))
            # proptest reports how many cases passed before the failure.
            ok=$(sed -n 's/.*successes: \([0-9]*\).*/\1/p' "$out" | head -1)
            cases=$(( cases + ${ok:-0} + 1 ))
            [ -n "$first" ] || first=$out
            echo "FAIL $h (batch $batches): $out" >&2
            grep -m1 -A3 'minimal failing input' "$out" >&2 || tail -5 "$out" >&2
        fi
    done
    elapsed=$(( $(date +%s) - start ))
    total_failures=$(( total_failures + failures ))
    rows+=("$(printf '%-44s %8s %8s %8s %8s  %s' "$h" "${elapsed}s" "$batches" "$cases" "$failures" "${first:--}")")
    echo "done $h: $cases cases, $failures failure(s)" >&2
done

printf '\n%-44s %8s %8s %8s %8s  %s\n' harness time batches cases failures "first failure log"
printf '%s\n' "${rows[@]}"
printf '\ntotal failures: %d\n' "$total_failures"
[ "$total_failures" -eq 0 ]
