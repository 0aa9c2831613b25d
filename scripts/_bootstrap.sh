# Shared set-up for scripts/demo and scripts/test: make or reuse .venv and install the
# project with its dev tools, and every plugin distribution under plugins/*/, again
# only when a pyproject.toml changed. Sourced, not run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
plugin_projects=(plugins/*/pyproject.toml)
[ -e "${plugin_projects[0]}" ] || plugin_projects=()
stamp=.venv/.geobox-usage-installed
want=$(cat pyproject.toml "${plugin_projects[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setting up .venv (geobox-usage, its dev tools and plugins/*)..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
    for project in "${plugin_projects[@]}"; do
        .venv/bin/python -m pip install --quiet --disable-pip-version-check \
            -e "$(dirname "$project")"
    done
    echo "$want" > "$stamp"
fi
