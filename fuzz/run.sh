#!/usr/bin/env bash
# fuzz/run.sh [seconds] - builds the libFuzzer targets with clang in
# build-fuzz/ (FUZZ=ON: every library instrumented, ASan + UBSan) and runs
# each target for `seconds` (default 60) on a fresh copy of its seed corpus
# (fuzz/corpus/<target>/ is never rewritten), then prints per target the
# executions, the corpus size at the end, and "clean" or "CRASH" with the
# input libFuzzer saved. Exits 1 if any target crashed.
# Knobs: FUZZ_BUILD_DIR (build-fuzz), FUZZ_TARGETS (all), FUZZ_JOBS (2),
# FUZZ_KEEP=1 keeps the working corpora and logs in $FUZZ_BUILD_DIR/runs/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
targets=${FUZZ_TARGETS:-"framing rpc sso_plan import_id cfapi_wire msgval grpc tfproto h2server"}
clang=$(command -v clang || true)
[ -n "$clang" ] || { echo "fuzz/run.sh: clang is not installed (scripts/install-deps.sh installs it with WITH_FUZZ=1)" >&2; exit 1; }

echo "== building the fuzz targets with $clang in $build/ =="
CC=$clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFUZZ=ON >/dev/null
cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target fuzzers >"$build/fuzz-build.log" 2>&1 \
    || { cat "$build/fuzz-build.log"; echo "fuzz build failed"; exit 1; }

runs="$build/runs"
rm -rf "$runs"
mkdir -p "$runs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
printf '%-12s %12s %8s  %s\n' target executions corpus result
for t in $targets; do
    work="$runs/$t"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
    log="$work/log"
    set +e
    "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$work/corpus" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    size=$(find "$work/corpus" -type f | wc -l)
    crash=$(find "$work/artifacts" -type f | head -n 1)
    if [ $rc -eq 0 ] && [ -z "$crash" ]; then
        result=clean
    else
        result="CRASH (exit $rc) ${crash:-see $log}"
        failed=1
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 3 | sed 's/^/    /' || true
    fi
    printf '%-12s %12s %8s  %s\n' "$t" "${execs:-?}" "$size" "$result"
done
[ "${FUZZ_KEEP:-0}" = 1 ] || [ $failed = 1 ] || rm -rf "$runs"
exit $failed
