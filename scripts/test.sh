#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite:
#   lint (ruff) and types (mypy), then pytest against real local servers (moto, SeaweedFS,
#   fake-gcs-server, Azurite) on Django 4.2 / Python 3.11 and Django 6.x / Python 3.12,
#   then the wheel: built, installed into a clean venv, example project run from it.
# Options: --quick (Django 6.x only, no slow tier, no wheel check); extra args go to pytest.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
cd "$REPO"

quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi

install_azurite
make_venv .venv-dj6 "$(find_python 3.12)" "Django>=6.0,<6.2"
if [ "$quick" = 0 ]; then
    make_venv .venv-dj42 "$(find_python 3.11)" "Django>=4.2,<5.0"
fi

echo "==> ruff"
.venv-dj6/bin/ruff check .
.venv-dj6/bin/ruff format --check preloadstorage
echo "==> mypy"
.venv-dj6/bin/mypy

status=0
echo "==> pytest: Django 6.x on Python 3.12"
.venv-dj6/bin/python -m pytest -m "not slow" "$@" || status=1
if [ "$quick" = 0 ]; then
    echo "==> pytest: Django 4.2 on Python 3.11 (with the slow tier)"
    .venv-dj42/bin/python -m pytest "$@" || status=1
    echo "==> wheel: build, install into a clean venv, run the example project"
    bash scripts/check-wheel.sh || status=1
fi
exit $status
