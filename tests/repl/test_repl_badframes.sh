#!/bin/bash
# A standby refuses, each with a log line, dropping the connection and
# writing nothing: a wrong key, a garbage frame, a frame with a bad CRC, a
# frame from an old epoch, a truncated frame. A well-formed session then works.
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
"$REPL_TOOL" inject 127.0.0.1:$PORT "$T/key" good >"$T/inject.out" 2>&1 || fail "good session refused: $(cat "$T/inject.out")"
[ -e "$S/injected.pmq" ] || fail "good session wrote nothing"
echo "PASS: bad frames refused, a good session applied"
