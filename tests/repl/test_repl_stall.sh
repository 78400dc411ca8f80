#!/bin/bash
# Issue 12, the block-policy stall: the link freezes (the relay is stopped with
# SIGSTOP, so bytes wait in its socket buffers) while a PMQ_REPLICATED send is in
# flight, for longer than the primary's silence limit (3 s); the primary drops the
# connection and reconnects. When the relay runs again the standby still gets and
# persists the entry, but its acknowledgement goes to the dead connection: the
# new session learns from QSTATE that the standby has it. The in-flight send must
# then return, and the status must not say "in sync" with the ticket unconfirmed.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port); RELAY=$(free_port)
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
ctl "$P" create orders --slots 32768 --payload 64 >/dev/null || fail create
"$REPL_TOOL" proxy 127.0.0.1:$RELAY 127.0.0.1:$PORT & RELAY_PID=$!; PIDS+=($RELAY_PID)
start_pmqd primary "$P" --replicate-to 127.0.0.1:$RELAY --repl-policy block --repl-timeout-ms 1000
wait_until 10 connected || fail "never connected"
"$REPL_TOOL" send "$P" orders 3 sync | grep -q "sent 3 ok" || fail "replicated sends before the cut"
wait_until 10 lag_zero orders || fail "lag never reached zero before the cut"
kill -STOP "$RELAY_PID"
"$REPL_TOOL" send "$P" orders 1 sync >"$T/inflight.out" 2>&1 &
SEND=$!; PIDS+=($SEND)
sleep 2 # past --repl-timeout-ms with the ticket unconfirmed: never "in sync" (block sets no flag)
ctl "$P" repl orders >"$T/frozen.out" 2>&1
grep -q "OUT OF SYNC" "$T/frozen.out" || fail "status during the freeze: $(cat "$T/frozen.out")"
echo "status during the freeze: $(grep -m1 "orders" "$T/frozen.out" | sed 's/^ *//')"
sleep 1.5 # past the primary's 3 s silence limit: it drops the frozen connection
kill -0 "$SEND" 2>/dev/null || fail "the replicated send returned while the link was frozen: $(cat "$T/inflight.out")"
kill -CONT "$RELAY_PID"
echo "link healed"
ok=0
for _ in $(seq 200); do # 10 s: the reconnect takes up to a few seconds (handshake timeout, backoff)
	if ! kill -0 "$SEND" 2>/dev/null; then ok=1; break; fi
	sleep 0.05
done
ctl "$P" repl orders >"$T/repl.out" 2>&1
[ $ok = 1 ] || fail "the in-flight replicated send never returned after the heal: $(cat "$T/repl.out")"
wait "$SEND"
grep -q "sent 1 ok" "$T/inflight.out" || fail "in-flight send: $(cat "$T/inflight.out")"
echo "in-flight send returned: $(cat "$T/inflight.out")"
wait_until 10 lag_zero orders || fail "lag never reached zero: $(cat "$T/repl.out")"
"$REPL_TOOL" send "$P" orders 100 sync | grep -q "sent 100 ok" || fail "replicated sends after the heal"
echo "PASS: the in-flight replicated send returned after the link healed"
