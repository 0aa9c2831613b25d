# Shared set-up for scripts/demo and scripts/test: make or reuse .venv and install the
# project with its dev tools, and every plugin under plugins/ (editable, with its `test`
# extra), again only when one of their pyproject.toml files changed. Sourced, not run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
shopt -s nullglob
plugin_projects=(plugins/*/pyproject.toml)
shopt -u nullglob
stamp=.venv/.geobox-usage-installed
want=$(cat pyproject.toml "${plugin_projects[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setting up .venv (geobox-usage, its dev tools and plugins/)..." >&2
    installs=(-e '.[dev]')
    for project in "${plugin_projects[@]}"; do
        installs+=(-e "$(dirname "$project")[test]")
    done
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "${installs[@]}"
    echo "$want" > "$stamp"
fi
