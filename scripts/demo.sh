#!/bin/bash
# The main job: install what is missing, build, and run producers and
# consumers in separate processes, kill a consumer that holds messages, show
# them redelivered, and print a latency summary. When pmqd is built, it does
# the recovery (daemon/demo.sh); otherwise the demo's parent recovers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
if [[ -x daemon/demo.sh && -x build/daemon/pmqd ]]; then
	exec daemon/demo.sh build
fi
exec build/examples/pmq-demo "$@"
