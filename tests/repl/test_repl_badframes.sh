#!/bin/bash
# A standby refuses, each with a log line, dropping the connection and
# writing nothing: a wrong key, a garbage frame, a frame with a bad CRC, a
# frame from an old epoch, a truncated frame, a record altered on the way, a
# record replayed, a primary of protocol version 1. A well-formed session then works,
# and a group table frame for its queue (made without groups) is refused.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
head -c 32 /dev/urandom | base64 > "$T/otherkey"
chmod 600 "$T/otherkey"
check() { # KIND KEYFILE LOGPATTERN
	local before after
	before=$(grep -c "refused" "$T/standby.log")
	"$REPL_TOOL" inject 127.0.0.1:$PORT "$2" "$1" >"$T/inject.out" 2>&1 || fail "$1: $(cat "$T/inject.out")"
	grep -q "dropped by the standby" "$T/inject.out" || fail "$1: connection not dropped"
	wait_until 3 grep -q "$3" "$T/standby.log" || fail "$1: no log line matching '$3'"
	after=$(grep -c "refused" "$T/standby.log")
	[ "$after" -gt "$before" ] || fail "$1: no refusal logged"
	[ ! -e "$S/injected.pmq" ] || fail "$1: a mirror was written"
	echo "ok: $1 refused: $(grep "$3" "$T/standby.log" | tail -1 | sed 's/.*standby: //')"
}
check wrongkey "$T/otherkey" "wrong key"
check garbage "$T/key" "bad magic"
check badcrc "$T/key" "CRC32C mismatch"
check oldepoch "$T/key" "old epoch"
check truncated "$T/key" "truncated frame"
check tampered "$T/key" "record authentication failed"
check replayed "$T/key" "record authentication failed"
check v1 "$T/key" "protocol version 1"
"$REPL_TOOL" inject 127.0.0.1:$PORT "$T/key" good >"$T/inject.out" 2>&1 || fail "good session refused: $(cat "$T/inject.out")"
[ -e "$S/injected.pmq" ] || fail "good session wrote nothing"
# a group table frame for a queue made without groups (a mirror with max_groups 0)
"$REPL_TOOL" inject 127.0.0.1:$PORT "$T/key" badgroup >"$T/inject.out" 2>&1 || fail "badgroup: $(cat "$T/inject.out")"
grep -q "dropped by the standby" "$T/inject.out" || fail "badgroup: connection not dropped"
wait_until 3 grep -q "refused a group table frame out of the queue's table" "$T/standby.log" ||
	fail "badgroup: no refusal logged"
echo "ok: badgroup refused"
# a primary meeting a standby of protocol 1 says so and does not stream
OLD=$(free_port)
"$REPL_TOOL" oldstandby 127.0.0.1:$OLD 8 & PIDS+=($!)
start_pmqd primary "$P" --replicate-to 127.0.0.1:$OLD
wait_until 5 grep -q "speaks replication protocol version 1, this pmqd speaks 2" "$T/primary.log" ||
	fail "the primary did not name the old standby's protocol version"
echo "ok: $(grep -m1 "protocol version 1" "$T/primary.log" | sed 's/.*replicator: //')"
echo "PASS: bad frames refused, a good session applied, protocol versions named"
