#!/bin/bash
# run_model.sh [WORK_DIR] - generate, compile and run the spin verifiers of the
# pmq slot-protocol model (tests/model/pmq.pml; see tests/model/README.md).
#
# Exit 0: every check behaved as expected; 1: an assertion violation, an
# incomplete search, a mutant that was not caught, or a probe never reached;
# 77: spin (Debian package `spin`) or a C compiler is missing.
#
# Env: PMQ_MODEL_MEMLIM  MB per verifier (default 1024)
#      PMQ_MODEL_ONLY    run only the checks whose name matches this regex
#      PMQ_MODEL_SKIP    skip the checks whose name matches this regex (ctest: model_spin
#                        skips '^groups-', which model_groups runs)
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-${TMPDIR:-/tmp}/pmq-model-$USER}
cc=${CC:-cc}
mem=${PMQ_MODEL_MEMLIM:-1024}
only=${PMQ_MODEL_ONLY:-.}
skip=${PMQ_MODEL_SKIP:-}

command -v spin >/dev/null 2>&1 || { echo "SKIP: spin is not installed (apt-get install spin; scripts/install-deps.sh installs it)"; exit 77; }
command -v "$cc" >/dev/null 2>&1 || { echo "SKIP: no C compiler ($cc) to build the spin verifier"; exit 77; }
rm -rf "$work" && mkdir -p "$work" || exit 1

failed=()
probes=0
gprobes=0         # groups.pml has its own probe numbers
model=pmq.pml     # the model the next run() checks (groups.pml: consumer groups)
start=$(date +%s)

# show the steps of a counterexample that change shared state, one line each
show_trail() { # dir flags...
	local d=$1; shift
	(cd "$d" && spin -t -p "$@" "$model" 2>&1) >"$d/trail.txt"
	grep -E "^\s*[0-9]+:\s+proc" "$d/trail.txt" | sed -E 's/\(state [0-9]+\)//; s/^\s*[0-9]+:\s+//' |
		grep -E "(mctl|ectl|esrc|emid|tok|dead|recovered|acked|sent|m|pay|lane|gh|etag)\[[^]]*\] = |(hint|head|tail|budget|lc|lost|cp) = |sfV = esrc|rcC = (ectl|mctl)|marked = \(" |
		cut -c1-150 | head -80
	grep -E "assertion violated|text of failed" "$d/trail.txt" | head -2
	echo "   (full trail: $d/trail.txt; replay: cd $d && spin -t -p $* $model)"
}

# run NAME EXPECT(pass|fail) SPIN-FLAGS...
run() {
	local name=$1 expect=$2
	shift 2
	[[ $name =~ $only ]] || return 0
	[[ -n $skip && $name =~ $skip ]] && return 0
	local d=$work/$name
	mkdir -p "$d" && cp "$here/$model" "$d/"
	if ! (cd "$d" && spin -a "$@" "$model" >spin.log 2>&1); then
		echo "FAIL $name: spin -a failed"; cat "$d/spin.log"; failed+=("$name"); return
	fi
	if ! (cd "$d" && "$cc" -O0 -w -DSAFETY -DCOLLAPSE -DNOFAIR -DMEMLIM="$mem" -o pan pan.c 2>cc.log); then
		echo "FAIL $name: cannot compile pan.c"; cat "$d/cc.log"; failed+=("$name"); return
	fi
	local t0=$SECONDS
	(cd "$d" && ./pan -m200000 >pan.log 2>&1)
	local secs=$((SECONDS - t0))
	local errors states
	errors=$(grep -o "errors: [0-9]*" "$d/pan.log" | grep -o "[0-9]*$")
	states=$(grep "states, stored" "$d/pan.log" | awk '{print $1}')
	local what
	what=$(grep -m1 -o "pan:1: .*" "$d/pan.log")
	if grep -q "max search depth too small\|reached -DMEMLIM bound\|out of memory" "$d/pan.log"; then
		echo "FAIL $name: incomplete search ($(grep -m1 "max search depth\|MEMLIM\|out of memory" "$d/pan.log"))"
		failed+=("$name"); return
	fi
	if [[ -z $errors ]]; then
		echo "FAIL $name: the verifier did not finish"; tail -5 "$d/pan.log"; failed+=("$name"); return
	fi
	local p
	p=$(grep -o "probes reached: 0x[0-9a-f]*" "$d/pan.log" | awk '{print $3}')
	if [[ -n $p && $model == groups.pml ]]; then gprobes=$((gprobes | p)); elif [[ -n $p ]]; then probes=$((probes | p)); fi
	if [[ $expect == pass && $errors == 0 ]]; then
		printf "ok   %-18s %10s states %4ss  no violation\n" "$name" "$states" "$secs"
	elif [[ $expect == fail && $errors != 0 ]]; then
		printf "ok   %-18s %10s states %4ss  mutant caught: %s\n" "$name" "$states" "$secs" "${what:0:110}"
	elif [[ $expect == pass ]]; then
		printf "FAIL %-18s %10s states %4ss  %s\n" "$name" "$states" "$secs" "$what"
		show_trail "$d" "$@"
		failed+=("$name")
	else
		printf "FAIL %-18s %10s states %4ss  mutant NOT caught\n" "$name" "$states" "$secs"
		failed+=("$name")
	fi
}

LEASE1="-DNP=1 -DK=2 -DNC=1 -DLEASE=1 -DRCV=3 -DCRASHES=2"
LEASEW="-DNP=1 -DK=3 -DNC=1 -DLEASE=1 -DRCV=3 -DCRASHES=1"
LEASE2="-DNP=1 -DK=2 -DNC=1 -DLEASE=1 -DLEASES=2 -DRCV=3 -DCRASHES=1"
RCRASH="-DNP=1 -DK=1 -DNC=1 -DLEASE=1 -DCRASHES=2 -DRCRASH=1"
PROD="-DNP=2 -DK=1 -DNC=1 -DLEASE=0 -DCRASHES=2"
CONS="-DNP=1 -DK=2 -DNC=2 -DLEASE=0 -DCRASHES=2"
WRAP="-DNP=1 -DK=3 -DNC=1 -DLEASE=0 -DCRASHES=1 -DMAXD=2 -DRCV=3"
DLQ="-DNP=1 -DK=2 -DNC=1 -DLEASE=0 -DCRASHES=1 -DMAXD=2 -DRCV=3 -DDLQOPS=1"
CREDIT="-DNP=1 -DK=2 -DNC=1 -DLEASE=0 -DCRASHES=1 -DMAXD=2 -DRCV=4 -DDLQCAP=1"
echo "== 1. the protocol as implemented in src/ (every check must hold)"
# shellcheck disable=SC2086
{
run impl-lease pass $LEASE1 -DPROBES
run impl-lease-wrap pass $LEASEW -DPROBES
run impl-lease2 pass $LEASE2 -DPROBES
run impl-rcrash pass $RCRASH -DPROBES
run impl-producers pass $PROD -DPROBES
run impl-consumers pass $CONS -DPROBES
run impl-wrap-dlq pass $WRAP -DPROBES
run impl-dlq-ops pass $DLQ -DPROBES
run impl-credits pass $CREDIT -DPROBES

echo "== 2. the bugs the model found (A-C) or models (D), as they were before the fix (each must be caught)"
run bug-a-unreserve fail $LEASE1 -DBUG_UNRESERVE
run bug-b-estale fail $LEASEW -DBUG_ESTALE
run bug-c-replay fail $DLQ -DBUG_REPLAY
run bug-d-credit fail $CREDIT -DDLQCAP=9 -DBUG_CREDIT

echo "== 3. mutants (each must be caught)"
run mut-notoken fail $LEASE1 -DMUT_NOTOKEN
run mut-notoken-data fail $LEASE1 -DMUT_NOTOKEN -DNO_OWNER_CHECK
run mut-leasefree fail $LEASEW -DMUT_LEASEFREE
run mut-noreread pass $LEASE1 -DMUT_NOREREAD
# format 2 claims (claim.c): each must be caught
run mut-claim-norecord fail $PROD -DMUT_NORECORD
run mut-claim-record-after fail $PROD -DMUT_RECORD_AFTER
run mut-claim-abort-any fail $PROD -DMUT_ABORT_ANY
run mut-skip-claimed fail $PROD -DMUT_SKIP_CLAIMED
}

# consumer groups (groups.pml, docs/groups.md): 1 producer x 3 tickets over 2 slots,
# reliable groups A and B (a member may die holding a message; a new member replaces
# it; the recoverer moves the message to the side area for its group), one lossy reader
GRELIABLE="-DK=3 -DNSIDE=1 -DCRASHES=1"
GLOSSY="-DK=3 -DNSIDE=1 -DCRASHES=0"
# lease + nack: 1 ticket, pmqd's lease on a group-A member, a second A member, B nacks
GLEASE="-DK=1 -DNSIDE=1 -DCRASHES=0 -DLOSSY=0 -DLEASE=1 -DNACK=2 -DNA=2"
# the same, and B's member may die in the middle of its nack (recovery: settle_side)
GLEASEC="-DK=1 -DNSIDE=1 -DCRASHES=1 -DCRASH_G=2 -DNACKCRASH=1 -DLOSSY=0 -DLEASE=1 -DNACK=2 -DNA=2"
echo "== 4. consumer groups (groups.pml; the model must hold, each mutant must be caught)"
model=groups.pml
# shellcheck disable=SC2086
{
run groups-impl pass $GRELIABLE -DPROBES
run groups-impl-k4 pass -DK=4 -DNSIDE=1 -DCRASHES=0 -DPROBES
run groups-mut-skip-lane2 fail $GLOSSY -DMUT_SKIP_LANE2
run groups-mut-norecheck fail $GLOSSY -DMUT_NORECHECK
run groups-mut-nomark fail $GLOSSY -DMUT_NOMARK
run groups-mut-wrong-group fail $GRELIABLE -DMUT_WRONG_GROUP
run groups-mut-gap-off1 fail $GLOSSY -DMUT_GAP_OFF1
# the settled floor (lane.c lane_floor_advance, floor_gate): raised without the walk over
# the lanes, or admitting one ticket too many, lets the producer overwrite a held slot
run groups-mut-floor-nowalk fail $GRELIABLE -DMUT_FLOOR_NOWALK
run groups-mut-floor-off1 fail $GRELIABLE -DMUT_FLOOR_OFF1
# bug E (found by this model, fixed in src/: side.c src_make_tagged): side_move's src record
# named (slot, lap) but not the group, so side_help_publish of one group's pinned lane
# published another group's half-written copy of the same ticket. The old record is the
# mutant -DBUG_E_NO_SRC_GROUP (must be caught); the fix is the model's default.
run groups-bug-e-srcgroup fail $GLEASE -DBUG_E_NO_SRC_GROUP
run groups-fixed-lease pass $GLEASE -DPROBES
# bug E through recovery: source_marked takes the tag from hflags, which a mover that
# died after its src store has not written yet (it is still the previous copy's)
run groups-bug-e-recovery fail $GLEASEC -DBUG_E_NO_SRC_GROUP
run groups-bug-e-help-only fail $GLEASEC -DFIX_HELP_ONLY
run groups-fixed-lease-crash pass $GLEASEC -DPROBES
}
model=pmq.pml

# every probe must be reached by some configuration (no vacuous pass)
if [[ $only == . ]] && ! [[ -n $skip && impl-lease =~ $skip ]]; then
	missing=()
	for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22; do
		((probes >> n & 1)) || missing+=("$n")
	done
	if ((${#missing[@]})); then
		echo "FAIL probes never reached: ${missing[*]} (see REACHED(n) in pmq.pml)"
		failed+=(probes)
	else
		echo "ok   all 22 reachability probes were reached"
	fi
fi
# groups.pml's probes: whenever its checks with probes ran
if [[ groups-impl =~ $only ]] && ! [[ -n $skip && groups-impl =~ $skip ]]; then
	gmissing=()
	for n in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 17 18 19; do # 16: see README.md
		((gprobes >> n & 1)) || gmissing+=("$n")
	done
	if ((${#gmissing[@]})); then
		echo "FAIL groups.pml probes never reached: ${gmissing[*]} (see REACHED(n) in groups.pml)"
		failed+=(groups-probes)
	else
		echo "ok   all 18 required groups.pml reachability probes were reached"
	fi
fi

echo "== $(($(date +%s) - start)) s, work files in $work"
if ((${#failed[@]})); then
	echo "FAILED: ${failed[*]}"
	echo "(an impl-* failure is an interleaving bug in src/; a bug-*/mut-* check that passes means the model lost its teeth)"
	exit 1
fi
exit 0
