#!/usr/bin/env bash
# The newcomer demo, on a fresh machine: a venv (.venv-demo, reused when run again), a local
# S3 server (moto) behind a request-counting proxy on 127.0.0.1, and the example project's
# unchanged `manage.py collectstatic` with django-storages' S3ManifestStaticStorage and
# with preloadstorage's PreloadingS3ManifestStorage, side by side.
# Options go to scripts/demo.py, e.g. `./scripts/demo.sh --delay 0.05` (see --help).
# Everything it starts and every temporary file is gone when it ends, also on Ctrl-C.
set -euo pipefail
source "$(dirname "$0")/_env.sh"
cd "$REPO"

VENV=.venv-demo
# Only what the demo needs: preloadstorage[s3] (editable), moto's S3 server and
# mirakuru (tests/support/servers.py starts moto with it).
DEMO_DEPS="moto[s3]>=5.0 flask>=2.3 flask-cors>=4.0 mirakuru>=2.5"

# demo_venv PYTHON -> $VENV with preloadstorage[s3] and $DEMO_DEPS, rebuilt only when
# pyproject.toml or the dependency list changed (like make_venv in _env.sh, but without
# the GCS/Azure/test/dev extras the demo does not use).
demo_venv() {
    local python="$1" stamp
    stamp="$(cksum < pyproject.toml | cut -d' ' -f1)-$(echo "$python $DEMO_DEPS" | cksum | cut -d' ' -f1)"
    if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$stamp" ] && [ -x "$VENV/bin/python" ]; then
        echo "==> reusing $VENV ($("$VENV/bin/python" --version 2>&1))"
        return 0
    fi
    echo "==> creating $VENV with $("$python" --version 2>&1) (once; about a minute)"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    echo "==> installing preloadstorage[s3] (editable) and $DEMO_DEPS"
    # pip's output goes to a log, shown only if the install fails.
    # shellcheck disable=SC2086
    if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip &&
           "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
               -e "$REPO[s3]" $DEMO_DEPS; } > "$VENV/pip.log" 2>&1; then
        cat "$VENV/pip.log" >&2
        echo "error: installing the demo's packages failed (log above, also in $VENV/pip.log)" >&2
        exit 1
    fi
    echo "$stamp" > "$VENV/.stamp"
}

python="$(find_python 3.12 2>/dev/null || find_python 3.11 2>/dev/null)" || {
    echo "error: the demo needs Python 3.12 or 3.11 (e.g. pyenv install 3.12)" >&2
    exit 1
}
demo_venv "$python"

# Run-time leftovers all live in one temporary folder (TMPDIR for the demo, so the S3
# server's data and the project's files land there too), removed by the trap; the pid
# file names the S3 server in case demo.py could not stop it itself.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/preloadstorage-demo.XXXXXX")"
cleanup() {
    local pid
    if [ -f "$tmp/server.pid" ]; then
        pid="$(cat "$tmp/server.pid")"
        # The server leads its own process group (session): stop the whole group.
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || true
            sleep 1
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

echo "==> running scripts/demo.py"
echo
TMPDIR="$tmp" PRELOADSTORAGE_DEMO_PIDFILE="$tmp/server.pid" "$VENV/bin/python" scripts/demo.py "$@"
