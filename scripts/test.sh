#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite:
#   lint (ruff) and types (mypy), then pytest against real local servers (moto, SeaweedFS,
#   fake-gcs-server, Azurite) in three tiers, one venv each:
#     newest  Python 3.13, Django 6.1, the latest release of every other dependency
#     dj60    Python 3.12, Django 6.0: the server-free engine tests and the conformance
#             and proof suites on moto (everything else runs in the two tiers around it;
#             this keeps CI near 30 minutes)
#     oldest  Python 3.10, Django 5.2, the lowest versions pyproject.toml declares of
#             django-storages, boto3, google-cloud-storage, google-crc32c, azure-storage-blob
#             (pinned in scripts/constraints-lowest.txt); also runs the slow tier (-m slow)
#   then the wheel: built, installed into a clean venv, example project run from it.
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

# pytest_tier NAME DIR PYTEST-ARGS... -> the suite in one venv, timed, versions shown.
status=0
pytest_tier() {
    local name="$1" dir="$2" start
    shift 2
    echo "==> pytest, $name tier: $("$dir/bin/python" - <<'PY'
import platform
from importlib.metadata import version
names = ["Django", "django-storages", "boto3", "google-cloud-storage", "azure-storage-blob"]
print(f"Python {platform.python_version()}, " + ", ".join(f"{n} {version(n)}" for n in names))
PY
)"
    start=$SECONDS
    "$dir/bin/python" -m pytest "$@" || status=1
    echo "==> $name tier took $((SECONDS - start)) s"
}

# The venvs this run needs, set up side by side (pip mostly waits on the network), while
# Azurite installs; then the tiers run one after another.
pids=()
if want newest; then tier_venv .venv-newest 3.13 "-U Django>=6.1,<6.2" & pids+=($!); fi
if want dj60 || want wheel; then tier_venv .venv-dj6 3.12 "Django>=6.0,<6.1" & pids+=($!); fi
if want oldest; then tier_venv .venv-oldest 3.10 "" "$CONSTRAINTS" & pids+=($!); fi
install_azurite
setup=0
for pid in "${pids[@]}"; do wait "$pid" || setup=1; done
[ "$setup" = 0 ] || exit 1

if want newest; then
    echo "==> ruff"
    .venv-newest/bin/ruff check . || status=1
    .venv-newest/bin/ruff format --check preloadstorage || status=1
    echo "==> mypy"
    .venv-newest/bin/mypy || status=1
    pytest_tier newest .venv-newest -m "not slow" "$@"
fi
if want dj60; then
    DJ60_TESTS=(tests/test_mixins.py tests/test_manifest_local.py tests/test_command.py
        tests/test_contract.py tests/test_sync.py tests/test_cache.py tests/test_conf.py
        tests/test_docs.py tests/test_errors.py tests/test_fingerprints.py
        tests/test_conformance.py tests/test_proof.py)
    PRELOADSTORAGE_TARGETS=moto pytest_tier dj60 .venv-dj6 -m "not slow" "${DJ60_TESTS[@]}" "$@"
fi
if want oldest; then
    pytest_tier "oldest (slow tests included)" .venv-oldest "$@"
fi
if want wheel; then
    # check-wheel.sh builds the wheel with .venv-dj6 (Python 3.12).
    echo "==> wheel: build, install into a clean venv, run the example project"
    bash scripts/check-wheel.sh || status=1
fi
exit $status
