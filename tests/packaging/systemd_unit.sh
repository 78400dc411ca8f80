#!/bin/bash
# systemd_unit.sh BUILD_DIR CMAKE PMQD PMQCTL [SANITIZE]
# The pmqd.service this build generates and installs:
#  1. its ExecStart is this build's install path (CMAKE_INSTALL_PREFIX/SBINDIR);
#  2. it is installed with the documents its Documentation= names;
#  3. its command line starts pmqd with no configuration file present, and
#     pmqctl status reaches it;
#  4. it allows the address families replication needs (AF_INET, AF_INET6);
#  4b. without systemd, its sandbox approximated: pmqd runs with only the
#     unit's CapabilityBoundingSet (setpriv) and still supervises a 0600 queue
#     of another user; under strace, every system call it makes is one the
#     unit's SystemCallFilter= allows (root, setpriv, strace, systemd-analyze;
#     skipped with the reason otherwise);
#  5. systemd-analyze verify accepts it, and systemd-analyze security rates
#     its exposure at most 4.0 (skipped, with the reason, without systemd-analyze);
#  6. where PID 1 is systemd and we are root: started as a real (transient)
#     service, pmqctl status reaches it (skipped, with the reason, otherwise).
set -uo pipefail
build=$1 cmake=$2 pmqd=$3 pmqctl=$4 sanitize=${5:-}
unit=$build/packaging/pmqd.service
[[ -f $unit ]] || { echo "FAIL: the build generated no $unit"; exit 1; }
tmp=$(mktemp -d /dev/shm/pmq-unit-test.XXXXXX)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail=0
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
full() { case $1 in /*) echo "$1" ;; *) echo "$(cache CMAKE_INSTALL_PREFIX)/$1" ;; esac; }
prop() { sed -n "s/^$1=//p" "$unit"; }

# 1. generated from the install paths
sbindir=$(full "$(cache CMAKE_INSTALL_SBINDIR)")
exec_start=$(prop ExecStart)
read -r bin args <<<"$exec_start"
[[ $bin == "$sbindir/pmqd" ]] ||
	{ echo "FAIL: ExecStart runs $bin, but this build installs pmqd as $sbindir/pmqd"; fail=1; }

# 2. installed, with what Documentation= names
prefix=$(cache CMAKE_INSTALL_PREFIX)
"$cmake" --install "$build" --prefix "$tmp/p" >"$tmp/install.log" 2>&1 || {
	echo "FAIL: cmake --install"; cat "$tmp/install.log"; exit 1; }
installed=$(find "$tmp/p" -name pmqd.service | head -1)
[[ -n $installed ]] || { echo "FAIL: pmqd.service is not installed"; fail=1; }
for doc in $(prop Documentation); do
	case $doc in
	file://*)
		path=${doc#file://}
		[[ $path == "$prefix"/* ]] || { echo "FAIL: Documentation=$doc is outside the prefix $prefix"; fail=1; continue; }
		[[ -f $tmp/p/${path#"$prefix"/} ]] || { echo "FAIL: Documentation=$doc is not installed"; fail=1; } ;;
	man:*)
		page=${doc#man:}; name=${page%(*}; sec=${page#*(}; sec=${sec%)}
		[[ -f $tmp/p/share/man/man$sec/$name.$sec ]] ||
			{ echo "FAIL: Documentation=$doc: no $name.$sec installed"; fail=1; } ;;
	esac
done

# 3. the command line, as systemd runs it with no config file and no
# EnvironmentFile (PMQD_ARGS takes the unit's Environment= default)
default_args=$(prop Environment | sed -n 's/^PMQD_ARGS=//p')
args=${args//\$PMQD_ARGS/$default_args}
args=${args//\$\{PMQD_ARGS\}/$default_args}
mkdir "$tmp/q"
# shellcheck disable=SC2086 # the unit's words, split as systemd splits them
PMQ_DIR=$tmp/q "$pmqd" $args >"$tmp/pmqd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -S $tmp/q/.pmqd.sock ]] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if "$pmqctl" --dir "$tmp/q" status >"$tmp/status.log" 2>&1; then
	echo "ok: the unit's command line ($bin $args) starts with no config file; pmqctl status answers"
else
	echo "FAIL: the unit's command line ($bin $args, no config file present) does not give a running pmqd:"
	sed 's/^/      /' "$tmp/pmqd.log" "$tmp/status.log"; fail=1
fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=

# 4. replication's address families
fam=$(prop RestrictAddressFamilies)
if [[ -n $fam ]]; then
	for f in AF_UNIX AF_INET AF_INET6; do
		[[ " $fam " == *" $f "* ]] || { echo "FAIL: RestrictAddressFamilies=$fam forbids $f (needed: control socket, --replicate-to)"; fail=1; }
	done
fi

# 4b. the sandbox without systemd
expand_group() { # @group -> its system calls, nested groups expanded
	systemd-analyze syscall-filter "$1" 2>/dev/null | sed -n '2,$p' | grep -v '^[[:space:]]*#' |
		tr -s ' \t' '\n\n' | grep -v '^$' | while read -r x; do
		case $x in @*) expand_group "$x" ;; *) echo "$x" ;; esac
	done
}
allowed_syscalls() { # the set the unit's SystemCallFilter= lines leave
	local line allow=() deny=() w
	while read -r line; do
		if [[ $line == "~"* ]]; then deny+=(${line#\~}); else allow+=($line); fi
	done < <(prop SystemCallFilter)
	{ for w in "${allow[@]}"; do [[ $w == @* ]] && expand_group "$w" || echo "$w"; done | sort -u; } >"$tmp/allow"
	{ for w in "${deny[@]}"; do [[ $w == @* ]] && expand_group "$w" || echo "$w"; done | sort -u; } >"$tmp/deny"
	comm -23 "$tmp/allow" "$tmp/deny"
}
if [[ -n $sanitize ]]; then
	echo "SKIP (part): pmqd is built with -fsanitize=$sanitize, whose runtime makes system calls of its own (and ptraces at exit): the sandbox is tried in the plain build"
elif [[ $(id -u) != 0 ]]; then
	echo "SKIP (part): not root: the capability bounding set and system call filter are not tried"
elif ! command -v setpriv >/dev/null || ! command -v strace >/dev/null || ! command -v systemd-analyze >/dev/null; then
	echo "SKIP (part): setpriv (util-linux), strace or systemd-analyze missing: the sandbox is not tried"
else
	caps=$(prop CapabilityBoundingSet | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
	mkdir "$tmp/sb"
	PMQ_DIR=$tmp/sb "$pmqctl" --dir "$tmp/sb" create theirs >/dev/null
	chown 65534:65534 "$tmp/sb/theirs.pmq" && chmod 0600 "$tmp/sb/theirs.pmq"
	# shellcheck disable=SC2086
	PMQ_DIR=$tmp/sb strace -f -qq -o "$tmp/strace" \
		setpriv --bounding-set "-all,$caps" --inh-caps=-all "$pmqd" $args >"$tmp/sb.log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do [[ -S $tmp/sb/.pmqd.sock ]] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	st=$("$pmqctl" --dir "$tmp/sb" status --queues 2>&1)
	"$pmqctl" --dir "$tmp/sb" send theirs hello >/dev/null 2>&1
	"$pmqctl" --dir "$tmp/sb" recv theirs -n 1 >/dev/null 2>&1
	# pmqd's own pid (strace and setpriv are in between): a reload, then a stop
	pmqd_pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' <<<"$("$pmqctl" --dir "$tmp/sb" status 2>/dev/null)")
	if [[ -n $pmqd_pid ]]; then
		kill -HUP "$pmqd_pid"; sleep 0.2; kill -TERM "$pmqd_pid"
	fi
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
	if [[ $st == *'"name":"theirs","owner":65534'* ]]; then
		echo "ok: with only $(prop CapabilityBoundingSet), pmqd supervises a 0600 queue of uid 65534"
	else
		echo "FAIL: with the unit's capabilities only, pmqd does not supervise uid 65534's queue:"
		echo "      status: $st"; sed 's/^/      /' "$tmp/sb.log"; fail=1
	fi
	# every call after pmqd's execve (setpriv's own calls are systemd's, in a unit)
	used=$(awk -v bin="$(basename "$pmqd")" '
		!go && /execve\(/ && index($0, bin) && / = 0$/ {go = 1; next}
		go && match($0, /^[0-9]+ +[a-z0-9_]+\(/) {s = substr($0, RSTART, RLENGTH); sub(/^[0-9]+ +/, "", s); sub(/\($/, "", s); print s}
		' "$tmp/strace" | sort -u)
	allowed_syscalls >"$tmp/allowed"
	bad=$(comm -23 <(echo "$used") "$tmp/allowed" | grep -v '^$' | tr '\n' ' ')
	if [[ -z $used ]]; then
		echo "FAIL: strace recorded no system call of pmqd"; fail=1
	elif [[ -n $bad ]]; then
		echo "FAIL: pmqd makes system calls the unit's SystemCallFilter= forbids: $bad"; fail=1
	else
		echo "ok: the $(wc -w <<<"$used") distinct system calls pmqd made are all allowed by SystemCallFilter="
	fi
fi

# 5. systemd-analyze
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP (part): systemd-analyze is not installed (apt-get install systemd): verify and security not run"
else
	# verify checks that ExecStart exists: a copy that runs this build's pmqd
	mkdir -p "$tmp/units"
	sed "s#^ExecStart=$bin#ExecStart=$(realpath "$pmqd")#" "$unit" >"$tmp/units/pmqd.service"
	if MANPATH=$tmp/p/share/man systemd-analyze verify "$tmp/units/pmqd.service" >"$tmp/verify.log" 2>&1; then
		echo "ok: systemd-analyze verify"
	else
		echo "FAIL: systemd-analyze verify:"; sed 's/^/      /' "$tmp/verify.log"; fail=1
	fi
	sec=$(systemd-analyze security --offline=yes --no-pager "$tmp/units/pmqd.service" 2>&1)
	level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$sec")
	if [[ -z $level ]]; then
		echo "FAIL: systemd-analyze security gave no exposure level:"; tail -5 <<<"$sec"; fail=1
	elif awk -v l="$level" 'BEGIN {exit !(l <= 4.0)}'; then
		echo "ok: systemd-analyze security: exposure $level (<= 4.0)"
	else
		echo "FAIL: systemd-analyze security rates the unit $level, above 4.0:"
		grep '✗' <<<"$sec" | sed 's/^/      /'; fail=1
	fi
fi

# 6. a real start under systemd
if [[ $(cat /proc/1/comm 2>/dev/null) != systemd ]]; then
	echo "SKIP (part): PID 1 is $(cat /proc/1/comm 2>/dev/null), not systemd: the unit is not started for real"
elif [[ $(id -u) != 0 ]]; then
	echo "SKIP (part): not root: the unit is not started for real"
else
	name=pmqd-test-$$
	mkdir -p "$tmp/sq"
	sed -e "s#^ExecStart=$bin#ExecStart=$(realpath "$pmqd")#" \
	    -e "s#^Environment=PMQD_ARGS=.*#Environment=\"PMQD_ARGS=--dir $tmp/sq\"#" \
	    -e '/^EnvironmentFile=/d' "$unit" >"/run/systemd/system/$name.service" # the host's options stay out
	systemctl daemon-reload
	if systemctl start "$name.service" && "$pmqctl" --dir "$tmp/sq" status >/dev/null 2>&1; then
		echo "ok: started as $name.service under systemd; pmqctl status answers"
	else
		echo "FAIL: $name.service did not start or does not answer:"
		systemctl status "$name.service" --no-pager 2>&1 | sed 's/^/      /'; fail=1
	fi
	systemctl stop "$name.service" 2>/dev/null
	rm -f "/run/systemd/system/$name.service"; systemctl daemon-reload
fi
((fail == 0)) && echo "OK: pmqd.service"
exit $fail
