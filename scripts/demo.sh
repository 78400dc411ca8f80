#!/bin/bash
# The main job: install what the demo needs, build only the demo's targets
# (libpmq, pmqd, pmqctl, pmq-demo: no tests, no benchmarks), and run
# producers and consumers in separate processes, kill a consumer that holds
# messages, show them redelivered, and print a latency summary. When pmqd is
# built, it does the recovery (daemon/demo.sh); otherwise the demo's parent
# recovers. The full build and suite: scripts/test.sh.
# PMQ_DEMO_BUILD=DIR builds elsewhere than build/; PMQ_DEMO_BUILD_ONLY=1 stops
# after the build (tests/packaging/demo_minimal.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${PMQ_DEMO_BUILD:-build}
scripts/install-deps.sh demo
# a user's build: warnings are not errors; only what the demo runs
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPMQ_WERROR=OFF \
	-DPMQ_BUILD_TESTS=OFF -DPMQ_BUILD_BENCH=OFF >/dev/null
targets=(pmq-demo)
if grep -q '^PMQ_BUILD_DAEMON:BOOL=ON' "$build/CMakeCache.txt"; then targets+=(pmqd pmqctl); fi
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
[[ ${PMQ_DEMO_BUILD_ONLY:-} == 1 ]] && exit 0
if [[ -x daemon/demo.sh && -x $build/daemon/pmqd ]]; then
	exec daemon/demo.sh "$build"
fi
exec "$build/examples/pmq-demo" "$@"
