#!/bin/bash
# Partition: the primary's path to etcd (a TCP relay the test controls) is cut
# while producers run on both hosts. The old primary must fence itself before
# the new one accepts its first producer: the last send accepted on the old
# (wall clock, after pmq_send returned) is earlier than the first accepted on
# the new one. Nothing replicated-acked is lost. Then the path heals: the old
# primary stays fenced (producers get ESHUTDOWN), etcd names the new holder,
# and pmqctl rejoin brings the old one back as a standby that resyncs.
. "$(dirname "$0")/lib.sh"
start_etcd
KEY=/pmq/part$$/leader
RELAY=$(free_port)
"$REPL_TOOL" proxy 127.0.0.1:$RELAY 127.0.0.1:$ETCD_PORT >"$T/relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
trap 'kill -CONT $RELAY_PID 2>/dev/null; cleanup; rm -rf "$ETCD_DIR"' EXIT
WA=(--witness "etcd://127.0.0.1:$RELAY" --witness-ttl-ms "$TTL_MS" --witness-key "$KEY")
WB=(--witness "etcd://127.0.0.1:$ETCD_PORT" --witness-ttl-ms "$TTL_MS" --witness-key "$KEY")
PORT_A=$(free_port) PORT_B=$(free_port)
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT_B --replicate-to 127.0.0.1:$PORT_A "${WB[@]}"
ctl "$P" create orders --slots 65536 --payload 64 >/dev/null || fail "create"
start_pmqd primary "$P" --replicate-to 127.0.0.1:$PORT_B "${WA[@]}"
wait_until 10 holding "$P" || fail "the primary does not hold the key through the relay"
wait_until 10 receiving "$S" || fail "the standby has no session"
wait_until 10 test -e "$S/orders.pmq" || fail "no mirror on the standby"
# the standby-host application: it sends from the start and is refused until promotion
"$WITNESS_TOOL" send "$S" orders 5000000 "$T/ok.new" wait >"$T/send.new.out" 2>"$T/send.new.err" &
NEWPROD=$!
PIDS+=("$NEWPROD")
# paced (50 µs after each send): nothing consumes the queue, and the new primary's
# producer needs room in it after the promotion; unpaced, a fast machine filled all
# 65,536 slots before the cut and the new producer blocked on a full queue
WITNESS_SEND_GAP_US=50 "$WITNESS_TOOL" send "$P" orders 1000000 "$T/ok.old" >"$T/send.old.out" 2>&1 &
OLDPROD=$!
PIDS+=("$OLDPROD")
wait_until 5 test -s "$T/ok.old" || fail "no replicated send on the primary"
sleep 0.5
[ ! -s "$T/ok.new" ] || fail "a producer on the standby was accepted before any promotion"
kill -STOP "$RELAY_PID" # the primary's path to etcd is cut (packets go unanswered)
cut_ms=$(now_ms)
wait_until 10 is_role "$P" fenced || fail "the cut-off primary did not fence itself"
fence_ms=$(now_ms)
wait_until 10 test -s "$T/ok.new" ||
	fail "the standby never took over (its producer was never accepted; old primary's accepted sends: $(wc -l <"$T/ok.old"), queue slots 65536)"
wait "$OLDPROD" 2>/dev/null
grep -q "refused: queue is fenced" "$T/send.old.out" || fail "the old producer was not stopped by the fence: $(cat "$T/send.old.out")"
sleep 0.3
kill "$NEWPROD"; wait "$NEWPROD" 2>/dev/null
last_old=$(sort -n -k2 "$T/ok.old" | tail -1 | cut -d' ' -f2)
first_new=$(sort -n -k2 "$T/ok.new" | head -1 | cut -d' ' -f2)
gap_ms=$(( (first_new - last_old) / 1000000 ))
[ "$last_old" -lt "$first_new" ] || fail "two primaries: the old one accepted a send $((-gap_ms)) ms after the new one's first"
is_role "$S" primary || fail "the standby is not primary"
grep -q "ESHUTDOWN\|fenced" "$T/send.new.err" "$T/send.new.out" 2>/dev/null || true
# nothing replicated-acked lost: all of the old and the new producer's sends are on the new primary
"$REPL_TOOL" drain "$S" orders "$T/after" 200 >/dev/null || fail "drain"
for f in old new; do
	missing=$(grep -v local "$T/ok.$f" | cut -d' ' -f1 | sort -n | comm -23 - <(cut -d' ' -f1 "$T/after" | sort -n -u))
	[ -z "$missing" ] || fail "$(echo "$missing" | wc -l) replicated-acked send(s) of the $f primary lost, first $(echo "$missing" | head -1)"
done
dups=$(cut -d' ' -f1 "$T/after" | sort | uniq -d | head -1)
[ -z "$dups" ] || fail "seq $dups delivered twice"
# heal: the old primary stays fenced, etcd names the new holder
kill -CONT "$RELAY_PID"
sleep $(( TTL_MS * 2 / 1000 + 1 ))
is_role "$P" fenced || fail "the old primary is $(role_of "$P") after the path healed"
out=$("$WITNESS_TOOL" send "$P" orders 9000000 "$T/ok.after_heal" 2>&1)
echo "$out" | grep -q "refused: queue is fenced" || fail "the healed old primary accepted a producer: $out"
[ ! -s "$T/ok.after_heal" ] || fail "the healed old primary accepted a send"
ctl "$S" repl --json | grep -q "\"holder\":\"[^\"]*$S\"" || fail "etcd does not name the new primary: $(ctl "$S" repl --json)"
ctl "$P" repl --json | grep -q '"state":"fenced"' || fail "the old primary's witness is not 'fenced'"
# rejoin it as a standby of the new primary (which already replicates to PORT_A)
kill "$primary_PID"; wait "$primary_PID" 2>/dev/null
ctl "$P" rejoin >"$T/rejoin.out" 2>&1 || fail "rejoin: $(cat "$T/rejoin.out")"
start_pmqd rejoined "$P" --standby --listen 127.0.0.1:$PORT_A --replicate-to 127.0.0.1:$PORT_B "${WA[@]}"
wait_until 15 sh -c "PMQ_DIR='$S' '$PMQCTL' repl --json | grep -q '\"connected\":true.*\"in_sync\":true'" ||
	fail "the new primary never got the rejoined standby in sync"
"$REPL_TOOL" send "$S" orders 50 sync | grep -q "sent 50 ok" || fail "replicated sends to the rejoined standby"
sleep 0.5
a=$("$REPL_TOOL" digest "$S" orders | sed 's/head [0-9]* //'); b=$("$REPL_TOOL" digest "$P" orders | sed 's/head [0-9]* //')
[ "$a" = "$b" ] || fail "rejoined standby differs: new primary [$a], rejoined [$b]"
echo "PASS: partition: old primary fenced $((fence_ms - cut_ms)) ms after the cut; its last accepted send $gap_ms ms before the new primary's first; $(grep -vc local "$T/ok.old") + $(grep -vc local "$T/ok.new") replicated-acked sends kept ($(grep -c local "$T/ok.new") more committed locally on the new primary before its standby returned); rejoined"
