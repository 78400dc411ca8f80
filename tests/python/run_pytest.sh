#!/bin/bash
# Runs the Python binding's pytest suite (ctest python_binding).
#   run_pytest.sh TESTDIR [pytest args...]
# Picks the first interpreter that has cffi and pytest: Debian's /usr/bin/python3
# (python3-cffi, python3-pytest from scripts/install-deps.sh) first, then the
# one on PATH. Exits 77 (skipped) naming what is missing; treats pytest's
# "no tests collected" (exit 5) as a failure, since it means the suite broke.
set -uo pipefail
testdir=$1; shift
src=${PMQ_SOURCE_DIR:-$(cd "$testdir/../.." && pwd)}

py=
for cand in /usr/bin/python3 "$(command -v python3 || true)"; do
	[[ -x $cand ]] || continue
	if "$cand" -c 'import cffi, pytest' 2>/dev/null; then py=$cand; break; fi
done
if [[ -z $py ]]; then
	echo "python_binding: skipped: no python3 with cffi and pytest (apt-get install python3-cffi python3-pytest)"
	exit 77
fi

export PYTHONPATH=$src/python${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1
"$py" -m pytest -p no:cacheprovider -q -ra "$testdir" "$@"
rc=$?
if ((rc == 5)); then
	echo "python_binding: pytest collected no tests: the suite is broken" >&2
	exit 1
fi
exit $rc
