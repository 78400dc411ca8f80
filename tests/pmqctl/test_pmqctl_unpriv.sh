#!/bin/bash
# As an unprivileged user (uid 65534) against root's pmqd and root's queue:
# permission denied is exit 4 everywhere, and the hint names the real cause:
# pmqd's socket refused us (named, with its owner and mode; not "start pmqd"
# while it runs), the directory is closed to us (not the queue).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (to run pmqctl as uid 65534 against root's pmqd)"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: needs setpriv (util-linux)"; exit 77; }
chmod 755 "$D"
nobody() { timeout -s KILL 20 setpriv --reuid 65534 --regid 65534 --clear-groups "$PMQCTL" --dir "$D" "$@"; }
# uid 65534 must be able to run pmqctl and reach $D: not where a parent directory is
# closed to it (a checkout under a 0700 home, a chroot whose root is 0700)
if ! setpriv --reuid 65534 --regid 65534 --clear-groups sh -c "\"\$1\" --version && test -x \"\$2\"" sh "$PMQCTL" "$D" >/dev/null 2>&1; then
	echo "SKIP: uid 65534 cannot run $PMQCTL or reach $D (a parent directory is closed to it)"
	exit 77
fi

start_pmqd # creates its socket 0660 root:root
ctl create secret --slots 4 >/dev/null
ctl send secret hello >/dev/null 2>&1

expect_rc 4 "peek of root's 0600 queue as nobody" -- nobody peek secret
expect_rc 4 "recv of root's 0600 queue as nobody" -- nobody recv secret
expect_rc 4 "stat of root's 0600 queue as nobody" -- nobody stat secret --interval 0

expect_rc 4 "status as nobody while pmqd runs: permission denied" -- nobody status
grep -q "start pmqd" <<<"$ERR" && bad "status hint says to start pmqd although it runs: $ERR" || ok "status does not tell to start a running pmqd"
grep -q "$D/.pmqd.sock" <<<"$ERR" && grep -q "refused" <<<"$ERR" && ok "status names the socket that refused: $ERR" ||
	bad "status hint: $ERR"
ln -s "$D/.pmqd.sock" "$T/other.sock"
expect_rc 4 "status --socket as nobody" -- setpriv --reuid 65534 --regid 65534 --clear-groups "$PMQCTL" --socket "$T/other.sock" status
grep -q "$T/other.sock" <<<"$ERR" && ok "the hint names the --socket given" || bad "hint does not name --socket: $ERR"

# pmqd made $D root-owned 0755: creating a queue there is the directory's refusal
stat -c %a "$D" | grep -q 755 || chmod 755 "$D"
expect_rc 4 "create as nobody in root's 0755 directory" -- nobody create mine
grep -q "files in $D" <<<"$ERR" && grep -q "mode 0755" <<<"$ERR" && ok "create blames the directory: $ERR" ||
	bad "create hint does not blame the directory: $ERR"
grep -q "queue's owner" <<<"$ERR" && bad "create blames the queue: $ERR"
finish
