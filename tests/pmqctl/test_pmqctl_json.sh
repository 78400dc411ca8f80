#!/bin/bash
# --json is one valid UTF-8 JSON document per invocation for every command
# (python3's json module decodes the bytes as strict UTF-8 and refuses extra
# data), --jsonl is one object per line, the names and types are the same
# everywhere ("queue" for a queue's name, lease_action a string), and a
# binary payload is in data_b64 (plus text only when valid UTF-8).
. "$(dirname "$0")/lib.sh"

# json_doc DESCRIPTION PYTHON-CHECK -- COMMAND...: stdout must be exactly one JSON
# document; the check (a python expression over d) must hold; the exit status
# must be $JRC (default 0).
json_doc() {
	local what=$1 check=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	local rc=$?
	if [ $rc -ne "${JRC:-0}" ]; then bad "$what: exit $rc: $(cat "$T/err")"; return; fi
	if python3 - "$T/out" "$check" <<'PY' 2>"$T/pyerr"; then ok "$what"; else bad "$what: $(cat "$T/pyerr") -- output: $(head -c 400 "$T/out")"; fi
import json, sys, base64
raw = open(sys.argv[1], "rb").read()
d = json.loads(raw.decode("utf-8"))  # strict UTF-8, one document (no "Extra data")
ok = eval(sys.argv[2], {"d": d, "b64": base64.b64decode})
if not ok:
    raise SystemExit("check failed: " + sys.argv[2])
PY
}

command -v python3 >/dev/null || { echo "SKIP: python3 is needed to validate JSON"; exit 77; }

start_pmqd
ctl create orders --slots 16 --max-deliveries 2 --lease-ms 5000 --lease-action kill >/dev/null || bad "create"
printf 'caf\xc3\xa9\n' | ctl send orders >/dev/null 2>&1
printf 'bin\xff\xfe\n' | ctl send orders >/dev/null 2>&1
ctl send orders third fourth fifth sixth >/dev/null 2>&1

json_doc "create --json" 'd["queue"]=="jq" and d["created"] is True' -- ctl create jq --json
json_doc "list --json" 'd["dir"] and [q["queue"] for q in d["queues"]]==["jq","orders"] and d["queues"][1]["depth"]==6' -- ctl list --json
json_doc "stat --json: queue, lease_action a string, pmqd's view" \
	'd["queue"]=="orders" and d["lease_action"]=="kill" and isinstance(d["attachments"], list) and d["pmqd"] is not None' \
	-- ctl stat orders --interval 0 --json
json_doc "peek --json: a binary payload in data_b64 only, text in both" \
	'len(d["messages"])==3 and d["messages"][0]["text"]=="café" and b64(d["messages"][0]["data_b64"])=="café".encode() and "text" not in d["messages"][1] and b64(d["messages"][1]["data_b64"])==b"bin\xff\xfe" and d["messages"][1]["queue"]=="orders"' \
	-- ctl peek orders -n 3 --json
json_doc "peek --count (the old spelling) --json" 'len(d["messages"])==2' -- ctl peek orders --count 2 --json
json_doc "tail --json" 'd["queue"]=="orders" and [m["text"] for m in d["messages"]]==["fifth","sixth"]' -- ctl tail orders -n 2 --json
json_doc "top -n 1 --json" 'len(d["samples"])==1 and [q["queue"] for q in d["samples"][0]["queues"]]==["jq","orders"]' -- ctl top -n 1 --json
json_doc "top -n 2 --json (two samples, one document)" 'len(d["samples"])==2' -- ctl top -n 2 --interval 10 --json
json_doc "status --json" 'isinstance(d, dict) and "pid" in d' -- ctl status --json
json_doc "status --queues --json" 'isinstance(d["queues"], list)' -- ctl status --queues --json
json_doc "repl --json" '"role" in d and "epoch" in d' -- ctl repl --json
json_doc "repl QUEUE --json" '"role" in d' -- ctl repl orders --json
json_doc "recv -n 2 --json: one document, invalid UTF-8 never raw" \
	'[m["ticket"] for m in d["messages"]]==[0,1] and d["messages"][0]["text"]=="café" and "text" not in d["messages"][1] and b64(d["messages"][1]["data_b64"])==b"bin\xff\xfe"' \
	-- ctl recv orders -n 2 --json
# dead letters: two deliveries allowed, nack twice
ctl recv orders --nack >/dev/null
ctl recv orders --nack >/dev/null
json_doc "dlq list --json" 'd["queue"]=="orders" and d["dead_letters"]==1 and len(d["messages"])==1 and d["messages"][0]["state"]=="dead" and d["messages"][0]["text"]=="third"' -- ctl dlq list orders --json
json_doc "dlq replay --json" 'd["queue"]=="orders" and d["replayed"]==1' -- ctl dlq replay orders --json
json_doc "send --json" 'd["queue"]=="orders" and d["sent"]==2' -- ctl send orders x y --json
json_doc "recover --json" 'd["queue"]=="orders" and isinstance(d["recovered"], int) and d["by"]=="pmqd"' -- ctl recover orders --json
JRC=6 json_doc "recv with nothing to get --json (exit 6) is still a document" 'd["messages"]==[]' -- ctl recv jq --json --timeout 1
json_doc "delete --json" 'd["queue"]=="jq" and d["deleted"] is True' -- ctl delete jq --json
JRC=3 json_doc "request --json (an err reply, exit 3)" '"error" in d' -- ctl request 'stat nosuch' --json

# JSON Lines: one object per line
ctl send orders l1 l2 l3 >/dev/null 2>&1
timeout 1 "$PMQCTL" --dir "$D" tail orders -n 2 --follow --jsonl >"$T/jl" 2>/dev/null
if python3 -c '
import json, sys
lines = open(sys.argv[1], "rb").read().decode("utf-8").splitlines()
objs = [json.loads(l) for l in lines]
assert [o["text"] for o in objs] == ["l2", "l3"], objs
' "$T/jl"; then ok "tail --follow --jsonl: one object per line"; else bad "tail --follow --jsonl: $(cat "$T/jl")"; fi
expect_rc 2 "tail --follow --json is refused (it never ends: --jsonl)" -- timeout 5 "$PMQCTL" --dir "$D" tail orders --follow --json

# pmqctl shovel: the bridges' status files (written by pmq-shovel, possibly another user's):
# known fields re-encoded, so a garbage file still gives one valid document
json_doc "shovel --json with no shovel" 'd["shovels"]==[]' -- ctl shovel --json
printf '{"name":"out","pid":7,"direction":"pmq-to-amqp","state":"connected","connected":true,"in_flight":3,"confirmed":99,"last_error":"a\\"b"}\n' >"$D/.pmq-shovel.out.json"
printf 'junk{"name":"\xff\x01' >"$D/.pmq-shovel.bad.json"
printf '{"name":"half"' >"$D/.pmq-shovel.tmp.json.tmp.9"
json_doc "shovel --json: fields of a good file, nothing of a garbage one, no temporaries" \
	'[s.get("name") for s in d["shovels"]]==[None,"out"] and d["shovels"][1]["connected"] is True and d["shovels"][1]["in_flight"]==3 and d["shovels"][1]["last_error"]==chr(97)+chr(34)+chr(98)' \
	-- ctl shovel --json
json_doc "shovel NAME --json" 'len(d["shovels"])==1 and d["shovels"][0]["confirmed"]==99' -- ctl shovel out --json
expect_rc 1 "shovel NAME without a status file" -- ctl shovel nosuch
finish
