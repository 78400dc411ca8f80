#!/bin/bash
# Cut the link (a relay we kill) and heal it, several times, under load:
# the standby ends identical to the primary. One cut outlasts
# --repl-timeout-ms: replicated sends then fail fast (ENOLINK) under the
# degrade policy, and the standby catches up when the link returns.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port); RELAY=$(free_port)
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
ctl "$P" create orders --slots 4096 --payload 64 >/dev/null || fail create
relay_up() { "$REPL_TOOL" proxy 127.0.0.1:$RELAY 127.0.0.1:$PORT & RELAY_PID=$!; PIDS+=($RELAY_PID); }
relay_down() { kill -9 "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null; }
relay_up
start_pmqd primary "$P" --replicate-to 127.0.0.1:$RELAY --repl-policy degrade --repl-timeout-ms 1500
wait_until 10 connected || fail "never connected"
"$REPL_TOOL" send "$P" orders 200000 async >"$T/load.out" 2>&1 &
LOAD=$!; PIDS+=($LOAD)
"$REPL_TOOL" drain "$P" orders "$T/consumed" 6000 >/dev/null 2>&1 &
CONS=$!; PIDS+=($CONS)
for i in 1 2 3 4; do
	sleep 0.4; relay_down; sleep 0.3; relay_up
	wait_until 10 connected || fail "no reconnect after cut $i"
	echo "cut $i healed"
done
sleep 0.3; relay_down
sleep 2.5 # longer than --repl-timeout-ms
t0=$(date +%s%N)
out=$("$REPL_TOOL" send "$P" orders 1 sync 2>&1)
t1=$(date +%s%N)
echo "$out" | grep -q "out of sync" || fail "replicated send during a long cut did not fail with ENOLINK: $out"
[ $(( (t1 - t0) / 1000000 )) -lt 1000 ] || fail "replicated send took $(( (t1 - t0) / 1000000 )) ms to fail"
grep -q "out of sync" "$T/primary.log" || fail "no out-of-sync log line"
echo "degraded: replicated send failed fast ($(( (t1 - t0) / 1000000 )) ms)"
relay_up
wait "$LOAD" 2>/dev/null; wait "$CONS" 2>/dev/null
wait_until 20 grep -q "back in sync" "$T/primary.log" || fail "never back in sync"
"$REPL_TOOL" send "$P" orders 500 sync | grep -q "sent 500 ok" || fail "replicated sends after the heal"
wait_until 10 lag_zero orders || fail "lag never reached zero"
sleep 0.3
a=$("$REPL_TOOL" digest "$P" orders); b=$("$REPL_TOOL" digest "$S" orders)
[ "$a" = "$b" ] || fail "standby differs: primary [$a] standby [$b]"
echo "PASS: 5 cuts under load; identical: $a"
