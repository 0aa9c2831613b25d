"""Check what the built sdist and wheel hold; used by scripts/check-package.

Usage: ``python scripts/_package_contents.py <sdist.tar.gz> <wheel.whl>``. Exits with
a message naming each missing or unwanted file.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from fnmatch import fnmatch

SDIST_MUST_HOLD = [
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "mkdocs.yml",
    "src/geobox_usage/__init__.py",
    "src/geobox_usage/py.typed",
    "src/geobox_usage/testing/pytest_plugin.py",
    "docs/index.md",
    "docs/examples/custom_cache.py",
    "tests/conftest.py",
]
SDIST_MUST_NOT_HOLD = ["*/__pycache__/*", "*.pyc", ".venv/*", "plugins/*", "site/*", ".ci/*"]
WHEEL_MUST_HOLD = [
    "geobox_usage/__init__.py",
    "geobox_usage/py.typed",
    "geobox_usage/testing/pytest_plugin.py",
    "geobox_usage-*.dist-info/licenses/LICENSE",
    "geobox_usage-*.dist-info/entry_points.txt",
]
WHEEL_MAY_HOLD = ["geobox_usage/*", "geobox_usage-*.dist-info/*"]


def sdist_names(path: str) -> list[str]:
    with tarfile.open(path) as archive:
        # Every member sits under "<name>-<version>/"; compare what is inside it.
        return [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]


def wheel_names(path: str) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def problems(kind: str, names: list[str], must: list[str], must_not: list[str]) -> list[str]:
    found = [f"{kind} lacks {want}" for want in must if not any(fnmatch(n, want) for n in names)]
    found += [
        f"{kind} holds {name}" for name in names if any(fnmatch(name, bad) for bad in must_not)
    ]
    return found


def main(sdist: str, wheel: str) -> int:
    wheel_files = wheel_names(wheel)
    stray = [n for n in wheel_files if not any(fnmatch(n, ok) for ok in WHEEL_MAY_HOLD)]
    found = problems("the sdist", sdist_names(sdist), SDIST_MUST_HOLD, SDIST_MUST_NOT_HOLD)
    found += problems("the wheel", wheel_files, WHEEL_MUST_HOLD, [])
    found += [f"the wheel holds {name}, outside the package" for name in stray]
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
