#!/bin/bash
# A standby refuses an entry out of ticket order (one past the ticket it
# expects, or a duplicate) and a skip frame out of order: it logs the refusal,
# drops the connection and applies nothing of it. A good session then works.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
for kind in gap dup; do
	before=$(grep -c "out of ticket order" "$T/standby.log")
	"$REPL_TOOL" inject 127.0.0.1:$PORT "$T/key" $kind >"$T/inject.out" 2>&1 || fail "$kind: $(cat "$T/inject.out")"
	grep -q "dropped by the standby" "$T/inject.out" || fail "$kind: connection not dropped"
	wait_until 5 [ "$(grep -c "out of ticket order" "$T/standby.log")" -gt "$before" ] ||
		fail "$kind: no 'out of ticket order' refusal logged"
	echo "ok: $kind refused: $(grep "out of ticket order" "$T/standby.log" | tail -1 | sed 's/.*standby: //')"
done
before=$(grep -c "skip frame out of order" "$T/standby.log")
"$REPL_TOOL" inject 127.0.0.1:$PORT "$T/key" skipgap >"$T/inject.out" 2>&1 || fail "skipgap: $(cat "$T/inject.out")"
grep -q "dropped by the standby" "$T/inject.out" || fail "skipgap: connection not dropped"
wait_until 5 [ "$(grep -c "skip frame out of order" "$T/standby.log")" -gt "$before" ] ||
	fail "skipgap: no 'skip frame out of order' refusal logged"
echo "ok: skipgap refused"
# the gap entry and the skip were refused: the mirror's tail never moved past what the dup session applied
sent=$(ctl "$S" stat injected --json 2>/dev/null | grep -o '"sent":[0-9]*' | head -1 | cut -d: -f2)
[ "${sent:-0}" -le 1 ] || fail "mirror tail at ${sent} after refused entries (at most the dup's first one applies)"
"$REPL_TOOL" inject 127.0.0.1:$PORT "$T/key" good >"$T/inject.out" 2>&1 || fail "good session refused: $(cat "$T/inject.out")"
echo "PASS: entries out of ticket order refused"
