#!/bin/bash
# Replication measurements (docs/benchmarks.md, "Replication"): latency of one
# 64 B send in process durability, power durability (PMEM_IS_PMEM_FORCE=1 on
# tmpfs: the flush path, not real media), and with a standby over loopback,
# async (no PMQ_REPLICATED) and sync (PMQ_REPLICATED); then replication
# throughput. The floor it is judged against (issue 12: replicated p50 <= 2x and
# p99 <= 5x a 64 B TCP loopback round trip) is measured in the same run,
# interleaved with the replicated runs. Usage: bench/repl_latency.sh BUILD_DIR [N]
# Set REPL_ENCRYPT=no to run the link with authenticated-only records.
# REPL_PIN=1 pins both pmqd to CPU 1 and the sender to CPU 0 (taskset; the TCP
# ping-pong floor stays unpinned, its best case): on a 2-vCPU guest a wake-up
# across vCPUs costs 10-25 us, so unpinned runs vary with where the scheduler put
# the three threads (docs/benchmarks.md, "Where a replicated send's time goes").
set -eu
B=${1:?build dir}; N=${2:-20000}
PIN_D=() PIN_S=()
if [ "${REPL_PIN:-0}" = 1 ]; then PIN_D=(taskset -c 1) PIN_S=(taskset -c 0); fi
PMQD=$B/daemon/pmqd PMQCTL=$B/daemon/pmqctl TOOL=$B/tests/repl/repl_tool
T=$(mktemp -d /tmp/pmq-repl-bench.XXXXXX); mkdir -p "$T/p" "$T/s" "$T/l"
head -c 32 /dev/urandom | base64 >"$T/key"
chmod 600 "$T/key" # pmqd refuses a key file others may read
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT
PORT=$((20000 + RANDOM % 30000))
PMQ_DIR=$T/l $PMQCTL create proc --slots 4096 --payload 64 >/dev/null
PMEM_IS_PMEM_FORCE=1 PMQ_DIR=$T/l $PMQCTL create pow --slots 4096 --payload 64 --durability power >/dev/null
echo "# local"
for i in 1 2 3; do $TOOL lat "$T/l" proc "$N" none | sed 's/^none/process/'; done
for i in 1 2 3; do PMEM_IS_PMEM_FORCE=1 $TOOL lat "$T/l" pow "$N" none | sed 's/^none/power/'; done
"${PIN_D[@]}" $PMQD --dir "$T/s" --standby --listen 127.0.0.1:$PORT --repl-key-file "$T/key" 2>"$T/s.log" & PIDS+=($!)
PMQ_DIR=$T/p $PMQCTL create rq --slots 4096 --payload 64 >/dev/null
PMQ_DIR=$T/p $PMQCTL create big --slots 262144 --payload 64 >/dev/null
sleep 0.3
printf 'repl-encrypt = %s\n' "${REPL_ENCRYPT:-yes}" >"$T/p.conf"
"${PIN_D[@]}" $PMQD --dir "$T/p" -c "$T/p.conf" --replicate-to 127.0.0.1:$PORT --repl-key-file "$T/key" --repl-policy block 2>"$T/p.log" & PIDS+=($!)
for _ in $(seq 100); do PMQ_DIR=$T/p $PMQCTL repl 2>/dev/null | grep -q "big .*confirmed" && break; sleep 0.05; done
sleep 0.5
echo "# replicated over loopback"
for i in 1 2 3; do $TOOL lat "$T/p" rq "$N" async | sed 's/^async/replicated-async/'; done
for i in 1 2 3; do
	$TOOL pingpong "$N"
	"${PIN_S[@]}" $TOOL lat "$T/p" rq "$N" sync | sed 's/^sync/replicated-sync/'
done
echo "# replication throughput (pipelined: async sends, until the standby confirmed all)"
for i in 1 2 3; do "${PIN_S[@]}" $TOOL tput "$T/p" rq 200000; done
for i in 1 2 3; do "${PIN_S[@]}" $TOOL tput "$T/p" big 250000 keep; PMQ_DIR=$T/p $TOOL drain "$T/p" big /dev/null 100 >/dev/null; done
