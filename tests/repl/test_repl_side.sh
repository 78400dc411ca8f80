#!/bin/bash
# The side area is replicated (docs/failover.md, docs/failover.md): messages
# dead-lettered, nacked, and requeued after a consumer's death on the primary are
# on the standby; a side entry acked after it was shipped is freed there too.
# Then the primary host dies (kill -9): the promoted standby delivers every
# replicated send that was not acked on the primary, exactly once, the requeued
# ones with delivery_count > 1, the dead letters through "<queue>.dlq".
. "$(dirname "$0")/lib.sh"
lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
side_is() { [ "$("$REPL_TOOL" side "$1" jobs)" = "$2" ]; }
PORT=$(free_port)
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
ctl "$P" create jobs --slots 64 --payload 64 >/dev/null || fail "create"
start_pmqd primary "$P" --replicate-to 127.0.0.1:$PORT --repl-policy block
wait_until 10 connected || fail "replicator never connected"
"$REPL_TOOL" send "$P" jobs 40 sync "$T/ok" | grep -q "sent 40 ok" || fail "replicated sends"
# seq 0-4: dead-lettered; 5-9: nacked (side READY, delivered once)
"$REPL_TOOL" consume "$P" jobs dead 5 "$T/dead" >/dev/null || fail "dead-letter"
"$REPL_TOOL" consume "$P" jobs nack 5 "$T/nack" >/dev/null || fail "nack"
wait_until 10 side_is "$S" "ready 5 dead 5 held 0" || fail "standby side area: $("$REPL_TOOL" side "$S" jobs), want ready 5 dead 5"
# a consumer takes the 5 redeliveries (side) and 5 from the ring (10-14), then dies
"$REPL_TOOL" consume "$P" jobs hold 10 "$T/held" >/dev/null 2>&1 &
HOLD=$!; PIDS+=($HOLD)
wait_until 10 lines_ge "$T/held" 10 || fail "holder did not receive 10"
kill -9 $HOLD; wait $HOLD 2>/dev/null
# pmqd recovers it: side entries requeued in place, ring messages moved to the side area
wait_until 10 side_is "$P" "ready 10 dead 5 held 0" || fail "primary side after recovery: $("$REPL_TOOL" side "$P" jobs)"
wait_until 10 side_is "$S" "ready 10 dead 5 held 0" || fail "standby side after recovery: $("$REPL_TOOL" side "$S" jobs)"
# two redeliveries acked on the primary after they were shipped: freed on the standby
"$REPL_TOOL" consume "$P" jobs ack 2 "$T/acked" >/dev/null || fail "ack"
wait_until 10 side_is "$S" "ready 8 dead 5 held 0" || fail "acked side entries not freed on the standby: $("$REPL_TOOL" side "$S" jobs)"
# the host dies
kill -9 "$primary_PID"; wait "$primary_PID" 2>/dev/null
ctl "$S" promote >"$T/promote.out" || fail "promote: $(cat "$T/promote.out")"
"$REPL_TOOL" drain "$S" jobs "$T/after" >/dev/null || fail "drain"
"$REPL_TOOL" drain "$S" jobs.dlq "$T/dlq" >/dev/null || fail "drain dlq"
acked=$(cut -d' ' -f1 "$T/acked" | sort -n)
want=$(sort -n "$T/ok" | comm -23 - <(echo "$acked" | sort -n) | sort -n)
got=$( (cut -d' ' -f1 "$T/after"; cut -d' ' -f1 "$T/dlq") | sort -n)
missing=$(comm -23 <(echo "$want" | sort) <(echo "$got" | sort))
[ -z "$missing" ] || fail "lost on failover: $(echo $missing)"
extra=$(comm -13 <(echo "$want" | sort) <(echo "$got" | sort))
[ -z "$extra" ] || fail "acked on the primary but delivered again: $(echo $extra)"
dups=$(echo "$got" | uniq -d)
[ -z "$dups" ] || fail "delivered twice after promotion: $(echo $dups)"
[ "$(cut -d' ' -f1 "$T/dlq" | sort -n | tr '\n' ' ')" = "0 1 2 3 4 " ] ||
	fail "dead letters on the promoted standby: $(cut -d' ' -f1 "$T/dlq" | tr '\n' ' '), want 0..4"
for s in $(cut -d' ' -f1 "$T/held"); do
	echo "$acked" | grep -qx "$s" && continue
	d=$(awk -v s="$s" '$1 == s { print $3 }' "$T/after")
	[ -n "$d" ] && [ "$d" -gt 1 ] || fail "requeued message seq $s: delivery_count '$d' after promotion, want > 1"
done
echo "PASS: side area replicated: $(wc -l <"$T/after") deliverable and $(wc -l <"$T/dlq") dead letters on the promoted standby, $(echo "$acked" | wc -w) acked ones freed"
