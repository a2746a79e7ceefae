#!/usr/bin/env bash
# Build the wheel, install it into a clean venv (no editable checkout on the path) and
# run the example project from the installed wheel: `manage.py check`, then the stock
# collectstatic to a local moto S3 server, twice (the second run must upload nothing).
set -euo pipefail
source "$(dirname "$0")/_env.sh"
cd "$REPO"

work="$(mktemp -d)"
moto_pid=""
cleanup() {
    [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Python 3.11 (so Django 5.2): the one supported Python no pytest tier runs.
python="$(find_python 3.11)"
builder=".venv-dj6/bin/python"
[ -x "$builder" ] || builder="$python"
"$builder" -m build --wheel --outdir "$work/dist" . >/dev/null
wheel="$(ls "$work"/dist/preloadstorage-*.whl)"
echo "built $(basename "$wheel")"
"$builder" -c 'import sys, zipfile; names = zipfile.ZipFile(sys.argv[1]).namelist(); sys.exit(0 if "preloadstorage/py.typed" in names else "py.typed missing from the wheel")' "$wheel"

"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel[s3]" "moto[s3]" flask flask-cors
cp -r example_project "$work/example_project"
cd "$work"   # nothing of the checkout on sys.path from here on

where="$("$work/venv/bin/python" -c 'import preloadstorage, os; print(os.path.dirname(preloadstorage.__file__))')"
case "$where" in "$work/venv/"*) ;; *) echo "preloadstorage imported from $where, not the wheel"; exit 1;; esac

port="$("$work/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$work/venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
"$work/venv/bin/python" - "$port" <<'PY'
import sys, time, boto3
for _ in range(100):
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket="static")
        break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit("moto did not start")
PY

export EXAMPLE_STORAGE=s3 EXAMPLE_S3_ENDPOINT="http://127.0.0.1:$port" EXAMPLE_DB_PATH="$work/db.sqlite3"
"$work/venv/bin/python" example_project/manage.py check
first="$("$work/venv/bin/python" example_project/manage.py collectstatic --noinput)"
second="$("$work/venv/bin/python" example_project/manage.py collectstatic --noinput)"
echo "$first" | grep "preloadstorage:"
echo "$second" | grep "preloadstorage:"
echo "$second" | grep -q " 0 uploaded" || { echo "second run uploaded files"; exit 1; }
echo "wheel OK: installed from $(basename "$wheel"), example project collected twice"
