# Shared set-up for scripts/demo and scripts/test, sourced, not run: make or reuse .venv
# and define `install_once`. Each script then installs what it needs: the demo the
# package alone, the test the package with its dev tools.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi

# install_once NAME PIP-ARGS...: `pip install PIP-ARGS` into .venv, again only when
# pyproject.toml or the arguments changed. Each NAME has its own stamp file, so the demo
# and the test do not undo or redo each other's set-up.
install_once() {
    local name=$1
    shift
    local stamp=.venv/.geobox-usage-$name
    local want
    want=$( (cat pyproject.toml; echo "$*") | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "setting up .venv ($name: pip install $*)..." >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@"
        echo "$want" > "$stamp"
    fi
}
