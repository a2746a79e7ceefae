# Shared helpers for scripts/*.sh: find interpreters, build venvs, install Azurite.
# Sourced, not run. Everything lands in git-ignored folders inside the checkout.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# find_python 3.12 -> path of a python3.12 (PATH first, then pyenv's versions).
find_python() {
    local want="$1" candidate
    for candidate in "python$want" "$(command -v pyenv >/dev/null 2>&1 && pyenv root)/versions/$want"*/bin/python3 \
                     "$HOME/.pyenv/versions/$want"*/bin/python3 /usr/bin/python"$want" /usr/local/bin/python"$want"; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(0)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "error: Python $want not found (install it, e.g. with pyenv install $want)" >&2
    return 1
}

# make_venv DIR PYTHON "PIP SPEC..." -> a venv with the package (editable, with the
# extras in $VENV_EXTRAS, default: all of them) and SPECs.
make_venv() {
    local dir="$1" python="$2" extra="$3" stamp
    local extras="${VENV_EXTRAS:-s3,crt,google,azure,test,dev}"
    stamp="$(cat "$REPO/pyproject.toml" | cksum | cut -d' ' -f1)-$(echo "$extras $extra" | cksum | cut -d' ' -f1)"
    if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
        return 0
    fi
    echo "==> setting up $dir ($("$python" --version 2>&1), [$extras] $extra)"
    rm -rf "$dir"
    "$python" -m venv "$dir"
    # pip's chatter goes to a log, shown only if the install fails.
    local log="$dir/install.log"
    # shellcheck disable=SC2086
    if ! { "$dir/bin/python" -m pip install --disable-pip-version-check -U pip &&
           "$dir/bin/python" -m pip install --disable-pip-version-check \
               -e "$REPO[$extras]" $extra; } >"$log" 2>&1; then
        tail -40 "$log" >&2
        echo "error: installing into $dir failed (full log: $log)" >&2
        return 1
    fi
    echo "$stamp" > "$dir/.stamp"
}

# install_azurite -> Azurite under .servers/azurite (npm, pinned), once.
install_azurite() {
    local prefix="${PRELOADSTORAGE_AZURITE_PREFIX:-$REPO/.servers/azurite}"
    if [ ! -x "$prefix/node_modules/.bin/azurite-blob" ]; then
        echo "==> installing Azurite into $prefix"
        mkdir -p "$prefix"
        npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error azurite@3.37.0 >/dev/null
    fi
    export PRELOADSTORAGE_AZURITE_PREFIX="$prefix"
}
