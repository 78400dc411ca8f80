#!/bin/bash
# A queue made with consumer groups is not replicated in this version (the group
# table and lanes are not shipped): the primary logs one clear line for it, once
# however many rescans pass, ships the queues without groups as before, and the
# standby never gets a half-mirror of the grouped queue.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
ctl "$P" create plain --slots 16 --payload 64 >/dev/null || fail "create plain"
if ! ctl "$P" create fan --slots 16 --payload 64 --max-groups 2 --group a >"$T/create.out" 2>&1; then
	grep -q "no consumer groups\|not supported\|ENOSYS\|not implemented" "$T/create.out" &&
		{ echo "SKIP: this libpmq cannot create a queue with groups: $(cat "$T/create.out")"; exit 77; }
	fail "create fan --max-groups 2: $(cat "$T/create.out")"
fi
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
start_pmqd primary "$P" --replicate-to 127.0.0.1:$PORT
wait_until 10 connected || fail "replicator never connected"
ctl "$P" send plain one two >/dev/null 2>&1 || fail "send plain"
wait_until 10 lag_zero plain || fail "plain was not replicated (lag never 0)"
wait_until 10 [ -e "$S/plain.pmq" ] || fail "no mirror of plain on the standby"
line='queue "fan" has consumer groups; replication of groups is not implemented in this version; not replicated'
wait_until 10 grep -qF "$line" "$T/primary.log" || fail "no 'not replicated' line for fan"
sleep 1.5 # three more rescans (every 500 ms): the line must not come again
n=$(grep -cF "$line" "$T/primary.log")
[ "$n" = 1 ] || fail "the line for fan was logged $n times, want once"
grep -q "queue \"fan\" joins link" "$T/primary.log" && fail "fan joined the replication link"
[ -e "$S/fan.pmq" ] && fail "the standby has a mirror of fan"
grep -qF 'queue "plain" has consumer groups' "$T/primary.log" && fail "plain was refused too"
# the refused queue keeps working on the primary
ctl "$P" send fan x >/dev/null 2>&1 || fail "send to fan on the primary"
# a queue made again under the same name without groups is looked at afresh and replicated
ctl "$P" delete fan >/dev/null || fail "delete fan"
ctl "$P" create fan --slots 16 --payload 64 >/dev/null || fail "create fan again without groups"
wait_until 10 grep -q "queue \"fan\" joins link" "$T/primary.log" || fail "fan (without groups now) never joined the link"
# a clean stop lets go of every handle, the refused queues' too (a sanitizer build would say)
ctl "$P" create fan2 --slots 16 --payload 64 --max-groups 1 >/dev/null || fail "create fan2"
wait_until 10 grep -qF 'queue "fan2" has consumer groups' "$T/primary.log" || fail "no line for fan2"
kill -TERM "$primary_PID"
wait "$primary_PID"
rc=$?
[ "$rc" = 0 ] || fail "primary pmqd exited $rc on SIGTERM"
grep -q "Sanitizer" "$T/primary.log" && fail "a sanitizer report in the primary's log"
echo "PASS: a queue with groups is logged once and not replicated; the others are"
