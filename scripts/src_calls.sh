#!/bin/bash
# Who calls whom inside libpmq (docs/architecture.md, "Inside src/"): for each non-static
# function, the file that defines it and the files that call it, from the objects' symbol
# tables (nm), then a check that every call goes to a lower layer. Usage:
#   scripts/src_calls.sh [BUILD_DIR]   (default: build; needs a built libpmq)
set -euo pipefail
objdir=${1:-build}/src/CMakeFiles/pmq.dir
[ -d "$objdir" ] || { echo "no objects in $objdir: build libpmq first" >&2; exit 2; }
# the layers, top (high) to bottom: a file may call only files of a lower rank
declare -A rank=([queue.c]=7 [ring.c]=7 [repl_group.c]=6 [recover.c]=6 [group_repair.c]=5 [peek.c]=5 [repl_source.c]=5 [repl_mirror.c]=5
	[repl_side.c]=5 [group.c]=5 [side.c]=4 [lane.c]=4 [claim.c]=4 [slot.c]=3 [format.c]=2 [attach.c]=1 [wait.c]=1 [durable.c]=0 [clock.c]=0
	[crc32c.c]=0 [errors.c]=0 [held.c]=0)
declare -A def
for o in "$objdir"/*.c.o; do
	f=$(basename "$o" .o)
	for s in $(nm --defined-only "$o" | awk '$2 == "T" {print $3}'); do def[$s]=$f; done
done
printf '%-16s %-16s %s\n' caller callee function
table=$(for o in "$objdir"/*.c.o; do
	f=$(basename "$o" .o)
	for s in $(nm -u "$o" | awk '{print $2}'); do
		d=${def[$s]:-}
		[ -n "$d" ] || continue
		mark=
		if [ -z "${rank[$f]:-}" ] || [ -z "${rank[$d]:-}" ] || [ "${rank[$f]}" -le "${rank[$d]}" ]; then
			mark="   <-- not a lower layer"
		fi
		printf '%-16s %-16s %s%s\n' "$f" "$d" "$s" "$mark"
	done
done | sort)
echo "$table"
if grep -q 'not a lower layer' <<<"$table"; then
	echo "src_calls: a call goes up or sideways (docs/architecture.md, Inside src/)" >&2
	exit 1
fi
