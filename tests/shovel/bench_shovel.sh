#!/bin/bash
# bench_shovel.sh SHOVEL TESTKIT - pmq-shovel's throughput and added latency per
# direction against a throwaway RabbitMQ node on 127.0.0.1 (as test_shovel.sh).
#   throughput: BENCH_N (50000) messages of BENCH_SIZE (100) bytes preloaded, then
#               the shovel moves them; rate = first to last arrival at the far end.
#   latency:    BENCH_LAT_N (3000) messages paced at BENCH_RATE (500/s) through a
#               running shovel, enqueue time to receipt, against the same path
#               without the shovel (pmq alone; RabbitMQ publish -> consume alone).
# Prints the checkers' lines; docs/bridge.md keeps the figures.
set -u
SHOVEL=$1
KIT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
N=${BENCH_N:-50000}
SIZE=${BENCH_SIZE:-100}
LN=${BENCH_LAT_N:-3000}
RATE=${BENCH_RATE:-500}
source "$HERE/broker.sh"
WORK=$(mktemp -d /tmp/pmq-shovel-bench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	broker_stop
	rm -rf "$WORK"
}
trap cleanup EXIT
broker_start || exit $?
broker_ctl add_vhost bench >/dev/null
broker_ctl add_user bench benchpw >/dev/null
broker_ctl set_permissions -p bench bench '.*' '.*' '.*' >/dev/null
export AMQP_HOST=127.0.0.1 AMQP_PORT=$BROKER_PORT AMQP_VHOST=bench AMQP_USER=bench AMQP_PASS=benchpw
printf 'username = bench\npassword = benchpw\n' >"$WORK/creds"
chmod 600 "$WORK/creds"
PMQ=$WORK/pmq
mkdir -m 700 "$PMQ"
shovel() { # DIRECTION QUEUE flags...
	local d=$1 q=$2
	shift 2
	"$SHOVEL" --uri "amqp://127.0.0.1:$BROKER_PORT/bench" --credentials-file "$WORK/creds" --direction "$d" \
		--pmq-dir "$PMQ" --pmq-queue "$q" --amqp-queue "$q" --status-file "$WORK/$q.status" "$@" \
		2>>"$WORK/shovel.log" &
	PIDS+=($!)
}
until_queue() { for ((i = 0; i < 100; i++)); do "$KIT" amqp-count "$1" >/dev/null 2>&1 && return; sleep 0.1; done; }
echo "# $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $N x $SIZE B; latency at $RATE/s"

echo "## pmq -> RabbitMQ throughput (batch 256)"
"$KIT" amqp-declare t1 && "$KIT" pmq-create "$PMQ" t1 1024 256 65536 && "$KIT" pmq-produce "$PMQ" t1 0 "$N" "$SIZE"
"$KIT" amqp-verify t1 "$N" 20 & # consuming before the shovel starts: the rate is the shovel's
v=$!
sleep 1
shovel pmq-to-amqp t1 --batch 256 --declare passive
wait $v

echo "## RabbitMQ -> pmq throughput (prefetch 512, batch 128)"
"$KIT" amqp-declare t2 && "$KIT" pmq-create "$PMQ" t2 1024 256 65536 && "$KIT" amqp-publish t2 0 "$N" "$SIZE"
"$KIT" pmq-verify "$PMQ" t2 "$N" 20 &
v=$!
sleep 1
shovel amqp-to-pmq t2 --declare passive --prefetch 512 --batch 128
wait $v

echo "## latency, pmq alone (baseline)"
"$KIT" pmq-create "$PMQ" l0 1024 256 8192
SHOVEL_KIT_RAW=1 "$KIT" pmq-verify "$PMQ" l0 "$LN" 20 &
v=$!
"$KIT" pmq-produce "$PMQ" l0 0 "$LN" "$SIZE" "$RATE"
wait $v

echo "## latency, RabbitMQ publish (confirmed) -> consume alone (baseline)"
"$KIT" amqp-declare l1
SHOVEL_KIT_RAW=1 "$KIT" amqp-verify l1 "$LN" 20 &
v=$!
"$KIT" amqp-publish l1 0 "$LN" "$SIZE" "$RATE"
wait $v

echo "## latency, pmq -> shovel -> RabbitMQ -> consumer"
"$KIT" pmq-create "$PMQ" l2 1024 256 8192
shovel pmq-to-amqp l2 --batch 256
until_queue l2
"$KIT" amqp-verify l2 "$LN" 20 &
v=$!
"$KIT" pmq-produce "$PMQ" l2 0 "$LN" "$SIZE" "$RATE"
wait $v

echo "## latency, RabbitMQ publish -> shovel -> pmq -> consumer"
"$KIT" amqp-declare l3 && "$KIT" pmq-create "$PMQ" l3 1024 256 8192
shovel amqp-to-pmq l3 --declare passive --prefetch 512 --batch 128
"$KIT" pmq-verify "$PMQ" l3 "$LN" 20 &
v=$!
"$KIT" amqp-publish l3 0 "$LN" "$SIZE" "$RATE"
wait $v
