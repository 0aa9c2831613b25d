"""The public names are exactly those the docs list, sorted, and all importable."""

from __future__ import annotations

import re
from pathlib import Path

import geobox_usage

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def documented_names() -> list[str]:
    return re.findall(r"^- `([A-Za-z_][A-Za-z0-9_]*)`:", API_PAGE.read_text(), flags=re.M)


def test_all_is_sorted_and_unique() -> None:
    assert geobox_usage.__all__ == sorted(set(geobox_usage.__all__))


def test_every_public_name_is_documented_and_every_documented_name_exists() -> None:
    documented = documented_names()
    assert len(documented) == len(set(documented)), "a name is listed twice in docs/api.md"
    assert sorted(documented) == sorted(geobox_usage.__all__)
    for name in geobox_usage.__all__:
        assert hasattr(geobox_usage, name), name


def test_the_package_is_typed() -> None:
    assert (Path(geobox_usage.__file__).parent / "py.typed").is_file()
