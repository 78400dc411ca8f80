#!/bin/bash
# test_shovel.sh SHOVEL TESTKIT - pmq-shovel against a real RabbitMQ node that this
# script starts on 127.0.0.1 (temporary node name, data, ports) and always stops.
# Exit 0 all passed, 1 a case failed, 77 skipped (the broker cannot start here).
# SHOVEL_TEST_N (default 100000) messages per direction; SHOVEL_KILL_ROUNDS (20).
set -u
SHOVEL=$1
KIT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
N=${SHOVEL_TEST_N:-100000}
ROUNDS=${SHOVEL_KILL_ROUNDS:-20}
KILL_N=${SHOVEL_KILL_N:-5000}
source "$HERE/broker.sh"

WORK=$(mktemp -d /tmp/pmq-shovel-test.XXXXXX)
chmod 700 "$WORK"
SHOVEL_PIDS=()
cleanup() {
	local p
	for p in "${SHOVEL_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	broker_stop
	rm -rf "$WORK"
}
trap cleanup EXIT

broker_start
rc=$?
if ((rc)); then exit "$rc"; fi
broker_ctl add_vhost pmqtest >/dev/null
broker_ctl add_user pmqtest 's3cret-pw' >/dev/null
broker_ctl set_permissions -p pmqtest pmqtest '.*' '.*' '.*' >/dev/null
export AMQP_HOST=127.0.0.1 AMQP_PORT=$BROKER_PORT AMQP_VHOST=pmqtest AMQP_USER=pmqtest AMQP_PASS='s3cret-pw'
URI=amqp://127.0.0.1:$BROKER_PORT/pmqtest
PMQ=$WORK/pmq
mkdir -m 700 "$PMQ"
CREDS=$WORK/creds
printf 'username = pmqtest\npassword = s3cret-pw\n' >"$CREDS"
chmod 600 "$CREDS"

passed=0 failed=0
say() { echo "[$(date +%T)] $*"; }
fail() { say "FAIL: $*"; return 1; }

# start_shovel LOGNAME DIRECTION PMQ_QUEUE AMQP_QUEUE [flags...]: sets SPID
start_shovel() {
	local log=$1 dir=$2 pq=$3 aq=$4
	shift 4
	"$SHOVEL" --uri "$URI" --credentials-file "$CREDS" --direction "$dir" --pmq-dir "$PMQ" \
		--pmq-queue "$pq" --amqp-queue "$aq" --backoff-min-ms 50 --backoff-max-ms 1000 \
		--status-file "$WORK/$log.status" "$@" >>"$WORK/$log.log" 2>&1 &
	SPID=$!
	SHOVEL_PIDS+=("$SPID")
}

# stop_shovel PID: SIGTERM, expect exit 0
stop_shovel() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	local rc=$?
	((rc == 0)) || fail "shovel $1 exited $rc after SIGTERM"
}

wait_queue() { # the shovel declares it; the checker needs it to exist
	local t
	for ((t = 0; t < 100; t++)); do
		"$KIT" amqp-count "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "queue $1 never appeared"
}

json_field() { grep -o "\"$2\":[^,}]*" "$1" | head -1 | cut -d: -f2; }

case_pmq_to_amqp() {
	"$KIT" pmq-create "$PMQ" p2a 1024 256 8192 || return 1
	"$KIT" pmq-produce "$PMQ" p2a 0 "$N" 100 &
	local prod=$!
	start_shovel p2a pmq-to-amqp p2a p2a --batch 256
	local sh=$SPID
	wait_queue p2a || return 1
	"$KIT" amqp-verify p2a "$N" 20 | tee "$WORK/p2a.out"
	local v=${PIPESTATUS[0]}
	wait "$prod" || fail "producer failed"
	stop_shovel "$sh" || return 1
	((v == 0)) || { tail -5 "$WORK/p2a.log"; fail "amqp side check"; return 1; }
	local c
	c=$(json_field "$WORK/p2a.status" confirmed)
	((c >= N)) || fail "status file says confirmed=$c, expected >= $N"
	grep -q '"state":"stopped"' "$WORK/p2a.status" || fail "status file does not say stopped"
	grep -q "state connecting -> connected" "$WORK/p2a.log" || fail "no state-change log line"
}

# a queue with consumer groups fanned out to two RabbitMQ queues, one shovel per group
# (--pmq-group): each gets every message
case_groups() {
	local n=$((N < 5000 ? N : 5000))
	"$KIT" pmq-create "$PMQ" fan 256 64 1024 "gx,gy" || return 1
	start_shovel fx pmq-to-amqp fan fanx --batch 64 --pmq-group gx
	local s1=$SPID
	start_shovel fy pmq-to-amqp fan fany --batch 64 --pmq-group gy
	local s2=$SPID
	"$KIT" pmq-produce "$PMQ" fan 0 "$n" 100 || { fail "producer failed"; return 1; }
	wait_queue fanx || return 1
	wait_queue fany || return 1
	"$KIT" amqp-verify fanx "$n" 20 || { tail -5 "$WORK/fx.log"; fail "group gx's RabbitMQ queue"; return 1; }
	"$KIT" amqp-verify fany "$n" 20 || { tail -5 "$WORK/fy.log"; fail "group gy's RabbitMQ queue"; return 1; }
	stop_shovel "$s1" || return 1
	stop_shovel "$s2" || return 1
	# without --pmq-group the consumer cannot open a queue with groups: a clear error
	"$SHOVEL" --uri "$URI" --credentials-file "$CREDS" --direction pmq-to-amqp --pmq-dir "$PMQ" \
		--pmq-queue fan --amqp-queue fanz >"$WORK/fz.log" 2>&1 && { fail "a shovel without --pmq-group ran"; return 1; }
	grep -q -- "--pmq-group" "$WORK/fz.log" || { cat "$WORK/fz.log"; fail "no hint about --pmq-group"; return 1; }
}

case_amqp_to_pmq() {
	"$KIT" amqp-declare a2p || return 1
	"$KIT" pmq-create "$PMQ" a2p 1024 256 8192 || return 1
	"$KIT" amqp-publish a2p 0 "$N" 100 &
	local pub=$!
	start_shovel a2p amqp-to-pmq a2p a2p --declare passive --prefetch 512 --batch 128
	local sh=$SPID
	"$KIT" pmq-verify "$PMQ" a2p "$N" 20 | tee "$WORK/a2p.out"
	local v=${PIPESTATUS[0]}
	wait "$pub" || fail "publisher failed"
	stop_shovel "$sh" || return 1
	((v == 0)) || { tail -5 "$WORK/a2p.log"; fail "pmq side check"; return 1; }
	local left
	left=$("$KIT" amqp-count a2p)
	((left == 0)) || fail "$left messages still ready in RabbitMQ after all were in pmq"
}

# kill -9 at random points while both sources are fed (so the kills land on
# messages in flight), then one run each to the end: nothing may be lost
case_kill9() {
	"$KIT" amqp-declare k2 || return 1
	"$KIT" pmq-create "$PMQ" k1 1024 64 32768 && "$KIT" pmq-create "$PMQ" k2 1024 64 32768 || return 1
	local rate=$((KILL_N / 8)) r
	"$KIT" pmq-produce "$PMQ" k1 0 "$KILL_N" 100 "$rate" &
	local p1=$!
	"$KIT" amqp-publish k2 0 "$KILL_N" 100 "$rate" &
	local p2=$!
	# the first shovel declares k1 (quorum) for the rest
	for ((r = 1; r <= ROUNDS; r++)); do
		start_shovel k1 pmq-to-amqp k1 k1 --batch 64
		local s1=$SPID
		start_shovel k2 amqp-to-pmq k2 k2 --declare passive --batch 16 --prefetch 128
		local s2=$SPID
		sleep "0.$((RANDOM % 4 + 1))$((RANDOM % 10))"
		kill -KILL "$s1"
		sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
		kill -KILL "$s2"
		wait "$s1" "$s2" 2>/dev/null
	done
	say "$ROUNDS kill -9 rounds done"
	start_shovel k1 pmq-to-amqp k1 k1 --batch 64
	local s1=$SPID
	start_shovel k2 amqp-to-pmq k2 k2 --declare passive --batch 16 --prefetch 128
	local s2=$SPID
	local v1 v2
	"$KIT" amqp-verify k1 "$KILL_N" 15 | tee "$WORK/k1.out"
	v1=${PIPESTATUS[0]}
	"$KIT" pmq-verify "$PMQ" k2 "$KILL_N" 15 | tee "$WORK/k2.out"
	v2=${PIPESTATUS[0]}
	wait "$p1" || fail "pmq producer failed"
	wait "$p2" || fail "amqp publisher failed"
	stop_shovel "$s1"
	stop_shovel "$s2"
	((v1 == 0)) || { tail -5 "$WORK/k1.log"; fail "pmq-to-amqp after $ROUNDS kill -9 rounds"; return 1; }
	((v2 == 0)) || { tail -5 "$WORK/k2.log"; fail "amqp-to-pmq after $ROUNDS kill -9 rounds"; return 1; }
	# publishes in flight at some kill: their redeliveries are the flagged duplicates
	grep -q "flagged_dups=[1-9]" "$WORK/k1.out" ||
		{ fail "no kill hit an unconfirmed publish in $ROUNDS rounds: the case proved nothing"; return 1; }
}

# a second amqp-to-pmq shovel on the same queue (a restart while the broker has not
# yet seen the old one die) must wait (the queue's single active consumer): taking later messages first would break the
# order. The first one is stuck on a full pmq ring with prefetched deliveries.
case_takeover() {
	local M=4000
	"$KIT" amqp-declare t || return 1
	"$KIT" pmq-create "$PMQ" t 1024 64 256 || return 1
	"$KIT" amqp-publish t 0 "$M" 100 || return 1
	start_shovel ta amqp-to-pmq t t --declare passive --prefetch 128 --batch 16
	local a=$SPID
	sleep 1
	start_shovel tb amqp-to-pmq t t --declare passive --prefetch 128 --batch 16
	local b=$SPID
	sleep 2
	local got
	got=$(json_field "$WORK/tb.status" received)
	[[ $got == 0 ]] || fail "the second shovel received $got messages while the first lived"
	kill -KILL "$a"
	wait "$a" 2>/dev/null
	"$KIT" pmq-verify "$PMQ" t "$M" 15 | tee "$WORK/t.out"
	local v=${PIPESTATUS[0]}
	stop_shovel "$b"
	((v == 0)) || { tail -5 "$WORK/tb.log"; fail "order or loss after the takeover"; return 1; }
}

case_broker_restart() {
	local M=$((N / 4))
	"$KIT" amqp-declare r2 || return 1
	# r2's ring is small and nobody reads it until the broker is back: the shovel is
	# stuck mid-stream with deliveries in pmq that it has not acked to the broker
	"$KIT" pmq-create "$PMQ" r1 1024 256 32768 && "$KIT" pmq-create "$PMQ" r2 1024 256 1024 || return 1
	"$KIT" amqp-publish r2 0 "$M" 100 || return 1
	"$KIT" pmq-produce "$PMQ" r1 0 "$M" 100 5000 &
	local prod=$!
	start_shovel r1 pmq-to-amqp r1 r1 --batch 128
	local s1=$SPID
	start_shovel r2 amqp-to-pmq r2 r2 --declare passive --prefetch 64 --batch 32
	local s2=$SPID
	sleep 2
	say "restarting the broker mid-stream"
	broker_halt
	broker_boot || { fail "broker did not come back"; return 1; }
	local v1 v2
	"$KIT" amqp-verify r1 "$M" 20 | tee "$WORK/r1.out"
	v1=${PIPESTATUS[0]}
	"$KIT" pmq-verify "$PMQ" r2 "$M" 20 | tee "$WORK/r2.out"
	v2=${PIPESTATUS[0]}
	wait "$prod"
	stop_shovel "$s1"
	stop_shovel "$s2"
	((v1 == 0)) || { tail -5 "$WORK/r1.log"; fail "pmq-to-amqp across a broker restart"; return 1; }
	((v2 == 0)) || { tail -5 "$WORK/r2.log"; fail "amqp-to-pmq across a broker restart"; return 1; }
	grep -q "state backoff -> connecting" "$WORK/r1.log" || fail "r1 never reconnected?"
	local d
	d=$(json_field "$WORK/r1.status" disconnects)
	((d >= 1)) || fail "status file of r1 counts $d disconnects"
}

case_bad_input() {
	local ok=0 rc
	"$KIT" pmq-create "$PMQ" bad 256 32 1024 || return 1
	# wrong password
	printf 'username = pmqtest\npassword = wrong\n' >"$WORK/badcreds"
	chmod 600 "$WORK/badcreds"
	timeout 60 "$SHOVEL" --uri "$URI" --credentials-file "$WORK/badcreds" --direction amqp-to-pmq \
		--pmq-dir "$PMQ" --pmq-queue bad --amqp-queue bad --status-file "$WORK/bad.status" 2>"$WORK/bad1.err"
	rc=$?
	if ((rc != 3)) || ! grep -q "ACCESS_REFUSED" "$WORK/bad1.err"; then
		cat "$WORK/bad1.err"; fail "wrong password: exit $rc (want 3 and ACCESS_REFUSED)"; ok=1
	fi
	# unknown vhost
	timeout 60 "$SHOVEL" --uri "amqp://127.0.0.1:$BROKER_PORT/novhost" --credentials-file "$CREDS" \
		--direction amqp-to-pmq --pmq-dir "$PMQ" --pmq-queue bad --amqp-queue bad \
		--status-file "$WORK/bad.status" 2>"$WORK/bad2.err"
	rc=$?
	if ((rc != 3)) || ! grep -q 'vhost "novhost"' "$WORK/bad2.err"; then
		cat "$WORK/bad2.err"; fail "unknown vhost: exit $rc (want 3 naming the vhost)"; ok=1
	fi
	# a credentials file others can read, and a password on the command line
	chmod 644 "$WORK/badcreds"
	"$SHOVEL" --uri "$URI" --credentials-file "$WORK/badcreds" --direction amqp-to-pmq \
		--pmq-dir "$PMQ" --pmq-queue bad --amqp-queue bad 2>"$WORK/bad3.err"
	rc=$?
	if ((rc != 2)) || ! grep -q "chmod 600" "$WORK/bad3.err"; then
		cat "$WORK/bad3.err"; fail "0644 credentials file: exit $rc (want 2)"; ok=1
	fi
	"$SHOVEL" --uri "amqp://pmqtest:s3cret-pw@127.0.0.1:$BROKER_PORT/pmqtest" --direction amqp-to-pmq \
		--pmq-dir "$PMQ" --pmq-queue bad --amqp-queue bad 2>"$WORK/bad4.err"
	rc=$?
	if ((rc != 2)) || ! grep -q "carries a password" "$WORK/bad4.err"; then
		cat "$WORK/bad4.err"; fail "password in the URI: exit $rc (want 2)"; ok=1
	fi
	# a message larger than the pmq queue's max_payload (256): dead-lettered, logged
	"$KIT" amqp-declare bad || return 1
	"$KIT" amqp-publish bad 0 5 100 && "$KIT" amqp-publish bad 1000000 1 4000 &&
		"$KIT" amqp-publish bad 5 5 100 || return 1
	start_shovel bad amqp-to-pmq bad bad --declare passive
	local sh=$SPID
	"$KIT" pmq-verify "$PMQ" bad 10 10 || { fail "the messages around the oversized one"; ok=1; }
	local got t
	for ((t = 0; t < 100; t++)); do # dead-lettering is asynchronous in the broker
		got=$("$KIT" amqp-get bad.dlq)
		[[ $got == empty ]] || break
		sleep 0.1
	done
	[[ $got == "id=t:1000000 size=4000" ]] || { fail "dead-letter queue holds \"$got\""; ok=1; }
	stop_shovel "$sh"
	grep -q 'message "t:1000000".*max_payload is 256: rejected to RabbitMQ without requeue' "$WORK/bad.log" ||
		{ cat "$WORK/bad.log"; fail "no log line for the oversized message"; ok=1; }
	[[ $(json_field "$WORK/bad.status" rejected_oversize) == 1 ]] || { fail "status: rejected_oversize"; ok=1; }
	return $ok
}

for c in ${SHOVEL_CASES:-pmq_to_amqp groups amqp_to_pmq kill9 takeover broker_restart bad_input}; do
	say "--- case $c"
	if "case_$c"; then
		say "ok: $c"
		passed=$((passed + 1))
	else
		say "FAILED: $c (logs: $WORK, kept)"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
if ((failed)); then
	trap 'for p in "${SHOVEL_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; broker_stop' EXIT
	exit 1
fi
exit 0
