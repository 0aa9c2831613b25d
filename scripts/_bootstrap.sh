# Shared set-up for scripts/demo and scripts/test, sourced, not run: make or reuse .venv
# and define `install_once`. Each script then installs what it needs: the demo the
# package alone; the test the package with its dev tools, and every plugin under
# plugins/ (editable, with its `test` extra).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi

shopt -s nullglob
plugin_projects=(plugins/*/pyproject.toml)
shopt -u nullglob

# install_once NAME PIP-ARGS...: `pip install PIP-ARGS` into .venv, again only when
# pyproject.toml, a plugin's pyproject.toml or the arguments changed. Each NAME has its
# own stamp file, so the demo and the test do not undo or redo each other's set-up.
install_once() {
    local name=$1
    shift
    local stamp=.venv/.geobox-usage-$name
    local want
    want=$( (cat pyproject.toml "${plugin_projects[@]}"; echo "$*") | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "setting up .venv ($name: pip install $*)..." >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@"
        echo "$want" > "$stamp"
    fi
}

# The pip arguments that install every plugin under plugins/ with its test extra.
plugin_installs=()
for project in "${plugin_projects[@]}"; do
    plugin_installs+=(-e "$(dirname "$project")[test]")
done
