#!/bin/bash
# DIR/.pmqd.repl decides whether pmqd starts as a primary, a standby or fenced, so
# pmqd believes only a regular file of its own uid that nobody else may write: a
# planted file (another owner, group/other-writable, a symlink) is refused at start
# with a message naming the problem, and pmqd does not take the role it claims.
. "$(dirname "$0")/lib.sh"
PORT=$(free_port)
planted() { # KIND: leave a .pmqd.repl claiming "primary at epoch 99" in $S
	rm -f "$S/.pmqd.repl"
	case $1 in
	foreign) printf 'epoch 99\nrole primary\n' >"$S/.pmqd.repl"; chown 65534:65534 "$S/.pmqd.repl" ;;
	writable) printf 'epoch 99\nrole primary\n' >"$S/.pmqd.repl"; chmod 666 "$S/.pmqd.repl" ;;
	symlink) printf 'epoch 99\nrole primary\n' >"$T/elsewhere"; ln -s "$T/elsewhere" "$S/.pmqd.repl" ;;
	esac
}
refused() { # KIND EXPECTED-TEXT
	planted "$1"
	: >"$T/$1.log"
	timeout 20 $PMQD --dir "$S" --repl-key-file "$T/key" --standby --listen 127.0.0.1:$PORT >"$T/$1.log" 2>&1
	local rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$1: pmqd did not refuse the planted state file (rc $rc)"
	grep -q "\.pmqd\.repl $2" "$T/$1.log" || fail "$1: no message naming the problem ($2)"
	echo "ok: $1 refused: $(grep -o "\.pmqd\.repl $2.*" "$T/$1.log" | head -1)"
}
if [ "$(id -u)" = 0 ]; then
	refused foreign "is owned by uid 65534"
else
	echo "note: the foreign-owner case needs root (chown); skipped"
fi
refused writable "has mode 0666"
refused symlink "is a symbolic link"
# a good file of our own is believed: a standby state file, pmqd --standby starts
rm -f "$S/.pmqd.repl"
printf 'epoch 7\nrole standby\n' >"$S/.pmqd.repl"
chmod 644 "$S/.pmqd.repl"
start_pmqd standby "$S" --standby --listen 127.0.0.1:$PORT
wait_until 5 grep -q "node is standby at epoch 7" "$T/standby.log" || fail "own state file not believed"
echo "PASS: a planted .pmqd.repl is refused; pmqd's own is believed"
