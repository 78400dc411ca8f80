#!/bin/bash
# The witness over TLS: a throwaway CA, a server certificate for 127.0.0.1 and
# a client certificate made with the openssl CLI; etcd serves https and checks
# client certificates (--client-cert-auth; the server certificate is also a client one:
# etcd's JSON gateway calls its own gRPC server with it).
#  1. --witness-cacert + --witness-cert/--witness-key-file: the primary holds the
#     key over https, the standby follows; SIGTERM hands over and the standby
#     promotes (every TLS call of both sides).
#  2. A wrong CA (another throwaway CA): the primary fences itself, the standby
#     does not promote; the error names the certificate check and --witness-cacert.
#  3. No client certificate while etcd requires one: the same, no promotion.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl (the CLI) is not installed (apt-get install openssl)"; exit 77; }
C=$T/pki
mkdir -p "$C"
mkca() { # mkca NAME
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pmq test $1" -keyout "$C/$1.key" \
		-out "$C/$1.pem" >>"$C/openssl.log" 2>&1
}
mkcert() { # mkcert NAME CA EXT
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$C/$1.key" -out "$C/$1.csr" >>"$C/openssl.log" 2>&1 &&
		printf '%s\n' "$3" >"$C/$1.ext" &&
		openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.pem" -CAkey "$C/$2.key" -CAcreateserial -days 2 \
			-extfile "$C/$1.ext" -out "$C/$1.pem" >>"$C/openssl.log" 2>&1
}
mkca ca && mkca otherca &&
	mkcert server ca "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" &&
	mkcert client ca "extendedKeyUsage=clientAuth" || fail "openssl: $(tail -5 "$C/openssl.log")"
chmod 600 "$C"/*.key
ETCD_SCHEME=https
CURL_ETCD=(--cacert "$C/ca.pem" --cert "$C/client.pem" --key "$C/client.key")
start_etcd --cert-file "$C/server.pem" --key-file "$C/server.key" --client-cert-auth --trusted-ca-file "$C/ca.pem"
curl -s --cacert "$C/ca.pem" "$ETCD_URL/health" >/dev/null && fail "etcd accepts a client without a certificate"
PORT_B=$(free_port)
pair() { # pair CASE TLS-OPTIONS...
	local c=$1
	shift
	K=/pmq/tls$c/leader
	W=(--witness "etcd://127.0.0.1:$ETCD_PORT" --witness-ttl-ms "$TTL_MS" --witness-key "$K" "$@")
	rm -rf "$P" "$S"; mkdir -p "$P" "$S"
	ctl "$P" create orders --slots 1024 --payload 64 >/dev/null || fail "create"
	start_pmqd sb$c "$S" --standby --listen 127.0.0.1:$PORT_B "${W[@]}" --witness-name node-b
	start_pmqd pr$c "$P" --replicate-to 127.0.0.1:$PORT_B "${W[@]}" --witness-name node-a
}
CLIENT=(--witness-cert "$C/client.pem" --witness-key-file "$C/client.key")
# 1 ----------------------------------------------------------------------------
pair 1 --witness-cacert "$C/ca.pem" "${CLIENT[@]}"
wait_until 10 holding "$P" || fail "1: the primary does not hold the key over https"
[ "$(etcd_holder "$K")" = node-a ] || fail "1: the key is not node-a's in etcd"
wait_until 10 receiving "$S" || fail "1: no session"
following() { ctl "$S" repl | grep -q 'state following'; }
wait_until 5 following || fail "1: the standby does not follow over https: $(ctl "$S" repl)"
kill -TERM "$pr1_PID"
wait_until 8 eval '! kill -0 $pr1_PID' || fail "1: pmqd did not stop"
grep -q "witness: handed over" "$T/pr1.log" || fail "1: no handover over https"
wait_until 6 is_role "$S" primary || fail "1: the standby did not promote over https"
[ "$(etcd_holder "$K")" = node-b ] || fail "1: the new primary does not hold the key"
kill "$sb1_PID"; wait "$sb1_PID" 2>/dev/null
# 2 and 3 ----------------------------------------------------------------------
for c in 2 3; do
	if [ $c = 2 ]; then pair 2 --witness-cacert "$C/otherca.pem" "${CLIENT[@]}"; else pair 3 --witness-cacert "$C/ca.pem"; fi
	wait_until 10 is_role "$P" fenced || fail "$c: the primary did not fence itself"
	if [ $c = 2 ]; then
		grep -q "cannot reach etcd to take $K: https://127.0.0.1:$ETCD_PORT.*certificate.*check --witness-cacert" "$T/pr2.log" ||
			fail "2: the error does not name the certificate check and --witness-cacert"
	else
		grep -q "cannot reach etcd to take $K: https://127.0.0.1:$ETCD_PORT.*TLS to etcd failed" "$T/pr3.log" ||
			fail "3: the error does not say TLS failed"
	fi
	wait_until 5 grep -q "cannot reach etcd: https://" "$T/sb$c.log" || fail "$c: no clear error on the standby"
	sleep $(( TTL_MS * 2 / 1000 + 1 ))
	is_role "$S" standby || fail "$c: the standby promoted"
	etcd_has "$K" && fail "$c: the key was written"
	pa=$(eval echo \$pr${c}_PID) pb=$(eval echo \$sb${c}_PID)
	kill "$pa" "$pb" 2>/dev/null; wait "$pa" "$pb" 2>/dev/null
done
echo "PASS: etcd over TLS with client certificates: the witness holds, hands over and promotes over https; a wrong CA or a missing client certificate fences the primary, blocks the standby, with a clear error"
