#!/bin/bash
# A clean stop of the primary, and what `pmqctl repl` says of the witness.
#  0. Start-up: a free key nobody has held yet is no reason for an in-sync standby
#     to take over from a primary that streams to it (here one without a witness:
#     its key stays free); it did, within its first poll, before.
#  1. `pmqctl repl` (text) on the primary names the holder (this node) and the
#     lease left; on the standby the holder is the primary.
#  2. SIGTERM to the primary's pmqd while a producer sends: pmqd fences its
#     queues, waits for the standby to confirm everything, revokes its lease
#     (the key is gone, or already the standby's, once pmqd has exited) and the
#     standby promotes long before the 10 s TTL could expire; every acked send is
#     on it. A 10 s TTL makes "before the TTL" an event, not a race.
#  3. --witness-handover-on-stop no: the key stays after a clean stop, and a pmqd
#     restarted within the TTL still holds it as the primary.
. "$(dirname "$0")/lib.sh"
TTL_MS=10000
start_etcd
PORT_B=$(free_port)
pair() { # pair CASE EXTRA...: a standby "node-b" and a primary "node-a" on key /pmq/stopCASE/leader
	local c=$1
	shift
	K=/pmq/stop$c/leader
	W=(--witness "etcd://127.0.0.1:$ETCD_PORT" --witness-ttl-ms "$TTL_MS" --witness-key "$K" "$@")
	rm -rf "$P" "$S"; mkdir -p "$P" "$S"
	ctl "$P" create orders --slots 1024 --payload 64 >/dev/null || fail "create"
	start_pmqd sb$c "$S" --standby --listen 127.0.0.1:$PORT_B "${W[@]}" --witness-name node-b
	start_pmqd pr$c "$P" --replicate-to 127.0.0.1:$PORT_B "${W[@]}" --witness-name node-a
	wait_until 10 holding "$P" || fail "$c: the primary does not hold the key"
	wait_until 10 receiving "$S" || fail "$c: no session"
}
# 0 ----------------------------------------------------------------------------
ctl "$P" create orders --slots 1024 --payload 64 >/dev/null || fail "create"
start_pmqd sb0 "$S" --standby --listen 127.0.0.1:$PORT_B --witness "etcd://127.0.0.1:$ETCD_PORT" \
	--witness-ttl-ms "$TTL_MS" --witness-key /pmq/stop0/leader
start_pmqd pr0 "$P" --replicate-to 127.0.0.1:$PORT_B
wait_until 10 receiving "$S" || fail "0: no session"
sleep 1.5 # 15 polls of the key
is_role "$S" standby || fail "0: the standby took over from a live primary because the key was free"
grep -q "is free but the primary is connected and has not taken it yet" "$T/sb0.log" || fail "0: no log line"
kill "$pr0_PID" "$sb0_PID"; wait "$pr0_PID" "$sb0_PID" 2>/dev/null
# 1 and 2 ----------------------------------------------------------------------
pair 2
ctl "$P" repl >"$T/repl.p" || fail "1: pmqctl repl on the primary"
grep -q "witness: etcd key $K, state holding" "$T/repl.p" &&
	grep -q 'held by "node-a" (this node)' "$T/repl.p" &&
	grep -Eq 'lease [0-9a-f]+: [0-9]+ ms left, last renewal [0-9]+ ms ago, epoch [1-9]' "$T/repl.p" ||
	fail "1: pmqctl repl does not show the witness holding the key: $(cat "$T/repl.p")"
following() { ctl "$S" repl >"$T/repl.s" && grep -q 'state following' "$T/repl.s"; }
wait_until 5 following || fail "1: the standby's pmqctl repl does not show it following: $(cat "$T/repl.s")"
grep -q 'held by "node-a"$' "$T/repl.s" || fail "1: the standby does not name the holder: $(cat "$T/repl.s")"
: >"$T/ok.2"
"$WITNESS_TOOL" send "$P" orders 0 "$T/ok.2" >"$T/send.2.out" 2>&1 &
PROD=$!; PIDS+=("$PROD")
wait_until 5 test -s "$T/ok.2" || fail "2: no replicated send"
sleep 0.2
t0=$(now_ms)
kill -TERM "$pr2_PID"
wait_until 8 eval '! kill -0 $pr2_PID' || fail "2: pmqd did not stop within 8 s of SIGTERM"
t1=$(now_ms)
h=$(etcd_holder "$K")
[ "$h" != node-a ] || fail "2: after a clean stop the key is still held by the old primary"
grep -q "witness: handed over: lease [0-9a-f]* revoked" "$T/pr2.log" || fail "2: no handover line in the log"
wait_until 5 is_role "$S" primary || fail "2: the standby did not take over within 5 s (TTL $TTL_MS ms)"
t2=$(now_ms)
is_role "$P" fenced || fail "2: the stopped primary is not fenced: $(role_of "$P")"
wait "$PROD" 2>/dev/null
grep -q "queue is fenced\|ESHUTDOWN" "$T/send.2.out" || fail "2: the producer was not refused: $(cat "$T/send.2.out")"
[ "$(etcd_holder "$K")" = node-b ] || fail "2: the new primary does not hold the key"
"$REPL_TOOL" drain "$S" orders "$T/after.2" 200 >/dev/null || fail "2: drain"
check_round "$T/ok.2" "$T/after.2" 0
echo "note: SIGTERM -> pmqd exited in $((t1 - t0)) ms, standby primary after $((t2 - t0)) ms (TTL $TTL_MS ms); $(wc -l <"$T/ok.2") acked sends all on the new primary"
kill "$sb2_PID"; wait "$sb2_PID" 2>/dev/null
# 3 ----------------------------------------------------------------------------
pair 3 --witness-handover-on-stop no
kill -TERM "$pr3_PID"
wait_until 8 eval '! kill -0 $pr3_PID' || fail "3: pmqd did not stop within 8 s of SIGTERM"
[ "$(etcd_holder "$K")" = node-a ] || fail "3: with --witness-handover-on-stop no the key was released"
grep -q "keeping $K (--witness-handover-on-stop no)" "$T/pr3.log" || fail "3: no log line saying the key is kept"
is_role "$P" primary || fail "3: the stopped primary is $(role_of "$P"), not primary"
start_pmqd pr3b "$P" --replicate-to 127.0.0.1:$PORT_B "${W[@]}" --witness-name node-a
wait_until 5 holding "$P" || fail "3: a primary restarted within the TTL does not hold its key again"
grep -q "still holds $K from before" "$T/pr3b.log" || fail "3: the restarted primary did not reuse its lease"
is_role "$S" standby || fail "3: the standby promoted"
echo "PASS: pmqctl repl shows the holder and the lease; a clean stop hands over at once and loses nothing; --witness-handover-on-stop no keeps the key"
