#!/bin/bash
# Install what is missing, build, and run the whole test suite three times:
# plain (every test, stress included), ASan+UBSan, and TSan (the thread-based
# tests: TSan sees threads, not processes); every build with warnings as
# errors (PMQ_WERROR), and Release and Debug built too (not run:
# tests/configs/compile_matrix.sh --quick). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh full

jobs=2
status=0
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
run_suite() { # name builddir ctest-args...
	local name=$1 dir=$2; shift 2
	echo "=== $name ==="
	if ! (cd "$dir" && ctest --output-on-failure --timeout 600 "$@") | tee -a "$summary"; then
		echo "=== $name: FAILED ===" >&2
		status=1
	fi
}

# development builds: warnings are errors; everything on (the demo may have
# configured build/ with tests and benchmarks off)
all=(-DPMQ_WERROR=ON -DPMQ_BUILD_TESTS=ON -DPMQ_BUILD_DAEMON=ON)
scripts/build.sh build "${all[@]}" -DPMQ_BUILD_BENCH=ON
run_suite "tests (plain build)" build -j"$jobs"

echo "=== build matrix: gcc Release and Debug, warnings as errors ==="
if ! bash tests/configs/compile_matrix.sh --quick --jobs "$jobs" | tee -a "$summary"; then
	echo "=== build matrix: FAILED ===" >&2
	status=1
fi

scripts/build.sh build-asan "${all[@]}" -DPMQ_SANITIZE=address,undefined -DPMQ_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run_suite "tests under ASan+UBSan" build-asan -j"$jobs" -LE "stress|fuzz|model"

scripts/build.sh build-tsan -DPMQ_WERROR=ON -DPMQ_BUILD_TESTS=ON -DPMQ_SANITIZE=thread -DPMQ_BUILD_BENCH=OFF -DPMQ_BUILD_DAEMON=OFF
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run_suite "tests under TSan" build-tsan -L tsan

# one closing line over the three runs: "N passed, N failed, N skipped"
total=$(awk '/tests failed out of/ {t += $NF} END {print t + 0}' "$summary")
failed=$(awk '/tests failed out of/ {for (i = 1; i <= NF; i++) if ($i == "failed") f += $(i - 2)} END {print f + 0}' "$summary")
skipped=$(grep -c '\*\*\*Skipped' "$summary" || true)
if ((status)); then
	echo "pmq: test suite FAILED" >&2
	((failed)) || failed=1
else
	echo "pmq: all suites passed (plain, Release and Debug builds, ASan+UBSan, TSan)"
fi
echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
exit $status
