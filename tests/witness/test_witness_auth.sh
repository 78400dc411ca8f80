#!/bin/bash
# The witness against an etcd with user/password authentication (set up
# through etcd's HTTP API: root user, a "pmq" user whose role may write only
# under /pmq/, auth enabled).
#  1. Both nodes as "pmq" with the right --witness-password-file: the primary
#     holds the key, the standby follows; kill -9 of the primary -> the standby
#     campaigns (authenticated) and promotes; every acked send is on it.
#  2. A wrong password: the primary cannot take the key and fences itself, the
#     standby does not promote, and both logs say the authentication was refused.
. "$(dirname "$0")/lib.sh"
start_etcd
api() { # api PATH JSON: one etcd call; the reply on stdout, non-zero on an error reply
	local out
	out=$(curl -s "${CURL_ETCD[@]}" -X POST "$ETCD_URL$1" -d "$2") || return 1
	echo "$out"
	! grep -q '"error"\|"code"' <<<"$out"
}
api /v3/auth/user/add '{"name":"root","password":"rootpw"}' >/dev/null &&
	api /v3/auth/role/add '{"name":"root"}' >/dev/null &&
	api /v3/auth/user/grant '{"user":"root","role":"root"}' >/dev/null &&
	api /v3/auth/user/add '{"name":"pmq","password":"s3cret-pw"}' >/dev/null &&
	api /v3/auth/role/add '{"name":"pmq"}' >/dev/null &&
	api /v3/auth/role/grant "{\"name\":\"pmq\",\"perm\":{\"permType\":\"READWRITE\",\"key\":\"$(b64 /pmq/)\",\"range_end\":\"$(b64 /pmq0)\"}}" >/dev/null &&
	api /v3/auth/user/grant '{"user":"pmq","role":"pmq"}' >/dev/null &&
	api /v3/auth/enable '{}' >/dev/null || fail "cannot set up authentication in etcd: $(cat "$T/etcd.log" | tail -3)"
# the test's own calls go as root
tok=$(curl -s -X POST "$ETCD_URL/v3/auth/authenticate" -d '{"name":"root","password":"rootpw"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$tok" ] || fail "cannot authenticate as root"
CURL_ETCD=(-H "Authorization: $tok")
curl -s -X POST "$ETCD_URL/v3/kv/range" -d "{\"key\":\"$(b64 /pmq/x)\"}" | grep -q "user name is empty\|permission denied\|invalid auth token" ||
	fail "etcd answers without a token: authentication is not on"
printf 's3cret-pw\n' >"$T/pw.good"; printf 'wrong-pw\n' >"$T/pw.bad"; chmod 600 "$T/pw.good" "$T/pw.bad"
PORT_B=$(free_port)
pair() { # pair CASE PASSWORD-FILE
	K=/pmq/auth$1/leader
	W=(--witness "etcd://127.0.0.1:$ETCD_PORT" --witness-ttl-ms "$TTL_MS" --witness-key "$K" --witness-user pmq
		--witness-password-file "$2")
	rm -rf "$P" "$S"; mkdir -p "$P" "$S"
	ctl "$P" create orders --slots 1024 --payload 64 >/dev/null || fail "create"
	start_pmqd sb$1 "$S" --standby --listen 127.0.0.1:$PORT_B "${W[@]}" --witness-name node-b
	start_pmqd pr$1 "$P" --replicate-to 127.0.0.1:$PORT_B "${W[@]}" --witness-name node-a
}
# 1 ----------------------------------------------------------------------------
pair 1 "$T/pw.good"
wait_until 10 holding "$P" || fail "1: the primary does not hold the key with the right password"
[ "$(etcd_holder "$K")" = node-a ] || fail "1: the key is not node-a's in etcd"
wait_until 10 receiving "$S" || fail "1: no session"
following() { ctl "$S" repl | grep -q 'state following'; }
wait_until 5 following || fail "1: the standby does not follow: $(ctl "$S" repl)"
: >"$T/ok.1"
"$WITNESS_TOOL" send "$P" orders 0 "$T/ok.1" >"$T/send.1.out" 2>&1 &
PROD=$!; PIDS+=("$PROD")
wait_until 5 test -s "$T/ok.1" || fail "1: no replicated send"
sleep 0.2
kill -9 "$pr1_PID" "$PROD"; wait "$pr1_PID" "$PROD" 2>/dev/null
wait_until 6 is_role "$S" primary || fail "1: the standby did not promote through an authenticated etcd"
[ "$(etcd_holder "$K")" = node-b ] || fail "1: the new primary does not hold the key"
"$REPL_TOOL" drain "$S" orders "$T/after.1" 200 >/dev/null || fail "1: drain"
check_round "$T/ok.1" "$T/after.1" 0
kill "$sb1_PID"; wait "$sb1_PID" 2>/dev/null
# 2 ----------------------------------------------------------------------------
pair 2 "$T/pw.bad"
wait_until 10 is_role "$P" fenced || fail "2: a primary with a wrong password did not fence itself"
grep -q 'authentication as "pmq" refused.*check the user and the password file' "$T/pr2.log" ||
	fail "2: no clear error on the primary"
wait_until 5 grep -q 'authentication as "pmq" refused' "$T/sb2.log" || fail "2: no clear error on the standby"
ctl "$S" repl | grep -q 'last error: .*authentication as "pmq" refused' || fail "2: pmqctl repl does not show the error"
sleep $(( TTL_MS * 2 / 1000 + 1 ))
is_role "$S" standby || fail "2: the standby promoted with a wrong password"
etcd_has "$K" && fail "2: the key was written with a wrong password"
echo "PASS: etcd with authentication: a user with the right password holds, campaigns and promotes; a wrong password fences the primary, blocks the standby, with clear errors"
