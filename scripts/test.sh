#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite:
#   lint (ruff) and types (mypy), then pytest against real local servers (moto, SeaweedFS,
#   fake-gcs-server, Azurite) in three tiers, one venv each:
#     newest  Python 3.13, Django 6.1, the latest release of every other dependency
#     dj60    Python 3.12, Django 6.0, without awscrt (the plain boto3 signing path):
#             the server-free engine tests, the conformance and proof suites on moto,
#             the S3 and reliability suites (the rest runs in the two tiers around it)
#     oldest  Python 3.10, Django 5.2, the lowest versions pyproject.toml declares of
#             django-storages, boto3, google-cloud-storage, google-crc32c, azure-storage-blob
#             (pinned in scripts/constraints-lowest.txt); also runs the slow tier (-m slow)
#   and the wheel: built, installed into a clean Python 3.11 venv (Django 5.2), the
#   example project run from it. Two lanes side by side: oldest in one; newest, dj60
#   and the wheel in the other: about 20 minutes on two idle cores, venvs included.
# Options:
#   --quick        the newest tier only (lint + pytest, no slow tier, no wheel check)
#   --tier LIST    only these tiers, comma-separated: newest, dj60, oldest, wheel
#                  (lint runs with newest)
# Extra args go to pytest. A venv is rebuilt only when pyproject.toml, the constraints file
# or its requirements change: `rm -rf .venv-*` to pick up newer releases.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
cd "$REPO"

tiers="newest,dj60,oldest,wheel"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) tiers="newest"; shift ;;
        --tier) tiers="${2:?--tier needs a list: newest,dj60,oldest,wheel}"; shift 2 ;;
        --tier=*) tiers="${1#--tier=}"; shift ;;
        *) break ;;
    esac
done
for tier in ${tiers//,/ }; do
    case "$tier" in
        newest|dj60|oldest|wheel) ;;
        *) echo "error: unknown tier '$tier' (newest, dj60, oldest, wheel)" >&2; exit 2 ;;
    esac
done
want() { case ",$tiers," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

CONSTRAINTS=scripts/constraints-lowest.txt

# tier_venv DIR PYTHON-VERSION "PIP SPEC..." [CONSTRAINTS-FILE] -> make_venv, and a venv
# built against an older constraints file is rebuilt (make_venv stamps only the specs).
tier_venv() {
    local dir="$1" python extra="$3" constraints="${4:-}" sum
    python="$(find_python "$2")"
    if [ -n "$constraints" ]; then
        sum="$(cksum <"$constraints" | cut -d' ' -f1)"
        [ "$(cat "$dir/.constraints" 2>/dev/null)" = "$sum" ] || rm -f "$dir/.stamp"
        make_venv "$dir" "$python" "-c $constraints $extra"
        echo "$sum" >"$dir/.constraints"
    else
        make_venv "$dir" "$python" "$extra"
    fi
}

# pytest_tier NAME DIR PYTEST-ARGS... -> the suite in one venv, timed, versions shown;
# returns pytest's exit status.
pytest_tier() {
    local name="$1" dir="$2" start rc=0
    shift 2
    echo "==> pytest, $name tier: $("$dir/bin/python" - <<'PY'
import platform
from importlib.metadata import version
names = ["Django", "django-storages", "boto3", "google-cloud-storage", "azure-storage-blob"]
print(f"Python {platform.python_version()}, " + ", ".join(f"{n} {version(n)}" for n in names))
PY
)"
    start=$SECONDS
    "$dir/bin/python" -m pytest "$@" || rc=$?
    echo "==> $name tier took $((SECONDS - start)) s (exit $rc)"
    return $rc
}

# Jobs run side by side, two at a time (the suites mostly wait on servers and on the
# proxy's delays; each pytest starts its own servers on free ports). Each job's output
# goes to a log, printed whole when the job ends, so tiers never interleave.
status=0
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
jobs_pids=()
jobs_names=()
start_job() {  # start_job NAME COMMAND...
    local name="$1"
    shift
    "$@" >"$logs/$name.log" 2>&1 &
    jobs_pids+=($!)
    jobs_names+=("$name")
}
finish_jobs() {  # wait for every started job; print its log; any failure fails the run
    local i
    for i in "${!jobs_pids[@]}"; do
        if ! wait "${jobs_pids[$i]}"; then
            status=1
        fi
        cat "$logs/${jobs_names[$i]}.log"
    done
    jobs_pids=()
    jobs_names=()
}

# The venvs this run needs, set up side by side (pip mostly waits on the network), while
# Azurite installs.
pids=()
if want newest; then tier_venv .venv-newest 3.13 "-U Django>=6.1,<6.2" & pids+=($!); fi
# dj60 without awscrt: once installed, botocore signs with it even on the boto3
# transport, so this tier (and the wheel check) keep the plain boto3 path tested.
if want dj60 || want wheel; then
    VENV_EXTRAS=s3,google,azure,test,dev tier_venv .venv-dj6 3.12 "Django>=6.0,<6.1" &
    pids+=($!)
fi
if want oldest; then tier_venv .venv-oldest 3.10 "" "$CONSTRAINTS" & pids+=($!); fi
install_azurite
setup=0
for pid in "${pids[@]}"; do wait "$pid" || setup=1; done
[ "$setup" = 0 ] || exit 1

lint() {
    local rc=0
    echo "==> ruff"
    .venv-newest/bin/ruff check . || rc=1
    .venv-newest/bin/ruff format --check preloadstorage || rc=1
    echo "==> mypy"
    .venv-newest/bin/mypy || rc=1
    return $rc
}
DJ60_TESTS=(tests/test_mixins.py tests/test_manifest_local.py tests/test_command.py
    tests/test_contract.py tests/test_sync.py tests/test_cache.py tests/test_conf.py
    tests/test_docs.py tests/test_errors.py tests/test_fingerprints.py tests/test_listing.py
    tests/test_pool.py tests/test_barrier.py tests/test_hooks.py tests/test_warmup.py
    tests/test_azure_listing.py
    tests/test_conformance.py tests/test_proof.py tests/test_s3.py tests/test_reliability.py)
dj60() {
    PRELOADSTORAGE_TARGETS=moto pytest_tier dj60 .venv-dj6 -m "not slow" "${DJ60_TESTS[@]}" "$@"
}
wheel() {
    # check-wheel.sh builds the wheel with .venv-dj6 and installs it on Python 3.11.
    echo "==> wheel: build, install into a clean venv, run the example project"
    bash scripts/check-wheel.sh
}

# Two lanes side by side: the oldest tier (the longest: it has the slow tier) in one;
# newest, then dj60, then the wheel in the other.
others() {
    local rc=0
    if want newest; then pytest_tier newest .venv-newest -m "not slow" "$@" || rc=1; fi
    if want dj60; then dj60 "$@" || rc=1; fi
    if want wheel; then wheel || rc=1; fi
    return $rc
}
if want newest; then lint || status=1; fi
if want oldest; then
    start_job oldest pytest_tier "oldest (slow tests included)" .venv-oldest "$@"
fi
start_job others others "$@"
finish_jobs
echo "==> all tiers took $SECONDS s in all"
exit $status
