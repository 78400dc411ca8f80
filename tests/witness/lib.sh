# Shared by the witness tests: tests/repl/lib.sh (two pmqd, a key, cleanup),
# plus a real etcd on 127.0.0.1 with a temporary data dir, killed on exit.
# Needs PMQD, PMQCTL, REPL_TOOL, WITNESS_TOOL in the environment (ctest sets them).
. "$(dirname "$0")/../repl/lib.sh"
: "${WITNESS_TOOL:?}"
TTL_MS=${TTL_MS:-1000}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# start_etcd [ETCD ARGS...]: ETCD_PORT, ETCD_URL; exit 77 (skip) with the reason if etcd
# cannot run. ETCD_SCHEME=https serves clients over TLS (give --cert-file/--key-file);
# CURL_ETCD holds curl's options for it (e.g. --cacert), used by every etcd_* helper.
ETCD_SCHEME=${ETCD_SCHEME:-http}
CURL_ETCD=()
start_etcd() {
	command -v etcd >/dev/null || { echo "SKIP: etcd is not installed (apt-get install etcd-server)"; exit 77; }
	command -v curl >/dev/null || { echo "SKIP: curl is not installed (apt-get install curl)"; exit 77; }
	ETCD_PORT=$(free_port)
	local peer
	peer=$(free_port)
	# short heartbeat/election: etcd's minimum lease TTL follows the election timeout (1 s leases need < 600 ms)
	# on tmpfs when there is one: etcd's fsyncs on a busy disk would stall lease renewals
	ETCD_DIR=$(mktemp -d /dev/shm/pmq-witness-etcd.XXXXXX 2>/dev/null || mktemp -d "$T/etcd.XXXXXX")
	trap 'cleanup; rm -rf "$ETCD_DIR"' EXIT
	etcd --name w --data-dir "$ETCD_DIR" --listen-client-urls "$ETCD_SCHEME://127.0.0.1:$ETCD_PORT" \
		--advertise-client-urls "$ETCD_SCHEME://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "w=http://127.0.0.1:$peer" \
		--heartbeat-interval 20 --election-timeout 200 "$@" >>"$T/etcd.log" 2>&1 &
	ETCD_PID=$!
	PIDS+=("$ETCD_PID")
	ETCD_URL=$ETCD_SCHEME://127.0.0.1:$ETCD_PORT
	if ! wait_until 15 curl -sf "${CURL_ETCD[@]}" "$ETCD_URL/health"; then
		echo "SKIP: etcd did not start on 127.0.0.1:$ETCD_PORT: $(tail -3 "$T/etcd.log")"
		exit 77
	fi
}
b64() { printf %s "$1" | base64 -w0; }
# etcd_put KEY VALUE: a plain put without a lease (something else writing the key)
etcd_put() { curl -sf "${CURL_ETCD[@]}" -X POST "$ETCD_URL/v3/kv/put" -d "{\"key\":\"$(b64 "$1")\",\"value\":\"$(b64 "$2")\"}" >/dev/null; }
etcd_del() { curl -sf "${CURL_ETCD[@]}" -X POST "$ETCD_URL/v3/kv/deleterange" -d "{\"key\":\"$(b64 "$1")\"}" >/dev/null; }
etcd_has() { curl -sf "${CURL_ETCD[@]}" -X POST "$ETCD_URL/v3/kv/range" -d "{\"key\":\"$(b64 "$1")\"}" | grep -q '"kvs"'; }
# etcd_holder KEY: the key's value, empty when the key is absent
etcd_holder() {
	curl -sf "${CURL_ETCD[@]}" -X POST "$ETCD_URL/v3/kv/range" -d "{\"key\":\"$(b64 "$1")\"}" |
		sed -n 's/.*"value":"\([^"]*\)".*/\1/p' | base64 -d 2>/dev/null
}
role_of() { sed -n 's/^role //p' "$1/.pmqd.repl" 2>/dev/null; }
is_role() { [ "$(role_of "$1")" = "$2" ]; }
holding() { ctl "$1" repl --json 2>/dev/null | grep -q '"state":"holding"'; }
receiving() { ctl "$1" repl --json 2>/dev/null | grep -q '"receiver":{[^}]*"connected":true'; }
# check_round OKFILE AFTERFILE BASE: every acked seq is in AFTER; nothing phantom
# (a seq never sent, i.e. above the in-flight one), nothing twice
check_round() {
	local ok=$1 after=$2 base=$3 max missing phantom dups
	max=$(cut -d' ' -f1 "$ok" | sort -n | tail -1)
	missing=$(grep -v local "$ok" | cut -d' ' -f1 | sort -n | comm -23 - <(cut -d' ' -f1 "$after" | sort -n -u))
	[ -z "$missing" ] || fail "$(echo "$missing" | wc -l) replicated-acked send(s) lost, first seq $(echo "$missing" | head -1)"
	phantom=$(awk -v lo="$base" -v hi="$((max + 1))" '$1 < lo || $1 > hi' "$after" | head -1)
	[ -z "$phantom" ] || fail "phantom message after promotion: [$phantom] (this round sent $base..$((max + 1)))"
	dups=$(cut -d' ' -f1 "$after" | sort | uniq -d | head -1)
	[ -z "$dups" ] || fail "seq $dups delivered twice after promotion"
}
