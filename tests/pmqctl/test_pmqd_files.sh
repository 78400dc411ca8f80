#!/bin/bash
# pmqd's config and key files (issue 9 item 8): regular files only, opened
# without blocking (a FIFO or /dev/zero must not hang start-up), size-capped,
# NUL bytes refused, key files 0600 and owned by us; strict numbers in flags
# and config lines; the documented exit codes (1 fatal at start, 2 usage).
. "$(dirname "$0")/lib.sh"

# pmqd_rc WANT DESCRIPTION PATTERN -- ARGS...: pmqd must exit WANT within 10 s with PATTERN on stderr
pmqd_rc() {
	local want=$1 what=$2 pat=$3
	shift 4
	timeout -s KILL 10 "$PMQD" --dir "$D" "$@" >"$T/out" 2>&1
	local rc=$?
	if [ $rc = "$want" ] && grep -qi -- "$pat" "$T/out"; then ok "$what (exit $rc)"
	else bad "$what: exit $rc (want $want, 137 = hung and killed), output: $(head -c 300 "$T/out")"; fi
}

pmqd_rc 1 "missing config file: fatal at start" "no such file" -- -c "$T/none.conf"
pmqd_rc 1 "-c /dev/zero is refused, not read for ever" "character device" -- -c /dev/zero
mkfifo "$T/fifo.conf"
pmqd_rc 1 "a FIFO config does not block start-up" "FIFO" -- -c "$T/fifo.conf"
printf 'scan-ms = 100\n\0\0\0\n' >"$T/nul.conf"
pmqd_rc 1 "a config with NUL bytes is refused" "NUL" -- -c "$T/nul.conf"
head -c 2000000 /dev/zero | tr '\0' '#' >"$T/big.conf"
pmqd_rc 1 "a config over 1 MiB is refused" "more than" -- -c "$T/big.conf"
printf 'scan-ms = 100\n' >"$T/good.conf"
ln -s "$T/good.conf" "$T/link.conf"
pmqd_rc 1 "a symlinked config is refused" "symbolic link" -- -c "$T/link.conf"
printf 'scan-ms = -5\n' >"$T/neg.conf"
pmqd_rc 1 "a negative number in the config names the line and the key" "neg.conf:1: scan-ms:.*sign" -- -c "$T/neg.conf"
printf 'probe-ms = 12abc\n' >"$T/junk.conf"
pmqd_rc 1 "trailing junk in a config number" "not a number" -- -c "$T/junk.conf"
pmqd_rc 2 "--scan-ms 12abc is a usage error" "--scan-ms.*not a number" -- --scan-ms 12abc
pmqd_rc 2 "--probe-ms 99999999999999999999 is a usage error" "out of range" -- --probe-ms 99999999999999999999
pmqd_rc 2 "--repl-timeout-ms 5x is a usage error" "not a number" -- --repl-timeout-ms 5x

# key files
head -c 32 /dev/urandom | base64 >"$T/key"
chmod 666 "$T/key"
pmqd_rc 1 "a 0666 key file is refused" "mode 0666" -- --replicate-to 127.0.0.1:1 --repl-key-file "$T/key"
mkfifo -m 600 "$T/key.fifo"
pmqd_rc 1 "a FIFO key file does not block start-up" "FIFO" -- --replicate-to 127.0.0.1:1 --repl-key-file "$T/key.fifo"
if [ "$(id -u)" = 0 ]; then
	cp "$T/key" "$T/key.other"; chmod 600 "$T/key.other"; chown 65534 "$T/key.other"
	pmqd_rc 1 "a key file owned by another user is refused" "owned by uid 65534" -- --replicate-to 127.0.0.1:1 --repl-key-file "$T/key.other"
else
	echo "skip - key file owned by another user (needs root to chown)"
fi
chmod 600 "$T/key"
"$PMQD" --dir "$D" -c "$T/good.conf" --replicate-to 127.0.0.1:1 --repl-key-file "$T/key" >"$T/good.log" 2>&1 &
pid=$!
for _ in $(seq 100); do "$PMQCTL" --dir "$D" status >/dev/null 2>&1 && break; sleep 0.05; done
if "$PMQCTL" --dir "$D" status >/dev/null 2>&1; then ok "a 0600 key file and a regular config start pmqd"; else bad "pmqd did not start: $(cat "$T/good.log")"; fi
kill -TERM $pid
timeout 10 tail --pid=$pid -f /dev/null
wait $pid; rc=$?
[ $rc = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
finish
