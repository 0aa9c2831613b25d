"""Every Python snippet of the README and the docs is a complete file that runs.

The rules (``docs/examples/README.md`` explains them to authors):

- in ``docs/**/*.md`` a ```` ```python ```` block holds nothing but
  ``--8<-- "examples/<name>.py"`` lines, which ``pymdownx.snippets`` replaces with the
  file when the site is built;
- in ``README.md`` (GitHub renders no includes) a Python block comes right after a
  ``<!-- docs/examples/<name>.py -->`` comment and is that file, character for character;
- every ``docs/examples/*.py`` is run as a script against the simulator, with
  ``GEOBOX_HOST`` set to the simulator's URL and ``GEOBOX_ACCESS_TOKEN`` to the demo
  user's token (no other ``GEOBOX_*`` credential).
"""

from __future__ import annotations

import re
import runpy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import markdown
import pytest
import yaml

from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
# The site's pages (docs/examples/ holds the included files and their README, no page).
SITE_PAGES = sorted(p for p in DOCS.rglob("*.md") if EXAMPLES not in p.parents)
PAGES = [ROOT / "README.md", *SITE_PAGES]
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))

# Pages whose snippets still print usage answers, whose shapes (API usage points, process
# usage, the summary) change with the simulator's move to the real server's answers. They
# are converted once that lands; remove a page from here when it has no fragment left.
# The OpenTelemetry page wires the plugin to an OTLP exporter and a collector, neither of
# which is installed or reachable here, so its programs are not run; the plugin's own
# tests (plugins/geobox-usage-otel/tests) wire it the same way to in-memory exporters.
# The fleet page's snippets need a Redis server, which the docs' runner does not start;
# the Redis plugin's own tests (plugins/geobox-usage-redis/tests) run the same setups
# against a real redis-server.
NOT_YET_CONVERTED: set[str] = {"docs/opentelemetry.md", "docs/fleet.md"}

INCLUDE = re.compile(r'^\s*--8<-- "(examples/[\w.-]+\.py)"\s*$')
README_SOURCE = re.compile(r"^<!-- (docs/examples/[\w.-]+\.py) -->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclass(frozen=True)
class CodeBlock:
    page: str
    line: int
    language: str
    text: str
    comment_before: str  # the nearest non-blank line above the fence

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def code_blocks(page: Path) -> Iterator[CodeBlock]:
    """The fenced code blocks of a Markdown page, nested ones (in lists) included."""
    yield from code_blocks_in(page.read_text(encoding="utf-8"), page.relative_to(ROOT).as_posix())


def code_blocks_in(text: str, name: str) -> Iterator[CodeBlock]:
    """The fenced code blocks of Markdown ``text``, reported as the page ``name``."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = next(
            (i for i in range(index + 1, len(lines)) if lines[i].strip().startswith(fence)),
            len(lines),
        )
        body = "\n".join(line[indent:] for line in lines[index + 1 : end])
        before = next((lines[i].strip() for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        yield CodeBlock(name, index + 1, opening["lang"].lower(), body + "\n", before)
        index = end + 1


def python_blocks() -> list[CodeBlock]:
    return [b for page in PAGES for b in code_blocks(page) if b.language in ("python", "py")]


def problem(block: CodeBlock) -> str | None:
    """Why ``block`` is not an included example, or ``None`` when it is one."""
    if block.page == "README.md":
        source = README_SOURCE.match(block.comment_before)
        if source is None:
            return "is not preceded by a <!-- docs/examples/<name>.py --> comment"
        path = ROOT / source[1]
        if not path.is_file():
            return f"names {source[1]}, which does not exist"
        if path.read_text(encoding="utf-8") != block.text:
            return f"differs from {source[1]}"
        return None
    lines = [line for line in block.text.splitlines() if line.strip()]
    if not lines or not all(INCLUDE.match(line) for line in lines):
        return 'is a fragment, not an --8<-- "examples/<name>.py" include'
    named = [match[1] for line in lines if (match := INCLUDE.match(line))]
    missing = [name for name in named if not (DOCS / name).is_file()]
    return f"includes missing files {missing}" if missing else None


def test_every_python_snippet_is_an_included_example() -> None:
    problems = [
        f"{block.where} {why}"
        for block in python_blocks()
        if block.page not in NOT_YET_CONVERTED and (why := problem(block)) is not None
    ]
    assert problems == []


def test_pages_waiting_for_conversion_still_have_fragments() -> None:
    # Keeps the allow-list short: a converted page must leave it.
    waiting = {block.page for block in python_blocks() if problem(block) is not None}
    assert waiting == NOT_YET_CONVERTED


def test_the_checker_refuses_fragments_and_accepts_includes() -> None:
    text = (
        '1. a step\n\n    ```python\n    --8<-- "examples/stamp_stage.py"\n    ```\n\n'
        "```python\nawait client.get_usage_summary()\n```\n\n"
        '```python\n--8<-- "examples/no_such_file.py"\n```\n'
    )
    assert [problem(block) for block in code_blocks_in(text, "docs/probe.md")] == [
        None,
        'is a fragment, not an --8<-- "examples/<name>.py" include',
        "includes missing files ['examples/no_such_file.py']",
    ]


def test_every_example_is_shown_in_the_docs() -> None:
    included = {
        m[1]
        for block in python_blocks()
        for line in block.text.splitlines()
        if (m := INCLUDE.match(line))
    }
    assert {f"examples/{path.name}" for path in EXAMPLE_FILES} - included == set()


# ----------------------------------------------------------------- running the examples

Check = Callable[[SimulatedGeobox, str], None]


def _stamped(sim: SimulatedGeobox, out: str) -> None:
    assert {r.header("X-Team") for r in sim.requests} == {"reporting"}


def _request_id_sent(sim: SimulatedGeobox, out: str) -> None:
    assert sim.requests[-1].header("X-Request-ID") == "order-7f3a9c"


def _served_once_from_the_shared_store(sim: SimulatedGeobox, out: str) -> None:
    assert sim.count("GET", "usage/summary") == 1


def _reread_after_the_update(sim: SimulatedGeobox, out: str) -> None:
    assert sim.count("GET", "usage/summary") == 2
    assert sim.updates_performed == 1


def _token_from_the_store(sim: SimulatedGeobox, out: str) -> None:
    assert {r.header("Authorization") for r in sim.requests} == {f"Bearer {DEMO_ACCESS_TOKEN}"}
    assert "vault-auth" in out


def _fixture_test_passed(sim: SimulatedGeobox, out: str) -> None:
    assert "1 passed" in out


def _web_request_id_carried(sim: SimulatedGeobox, out: str) -> None:
    assert out.startswith("200 ")
    assert sim.requests[-1].header("X-Request-ID") == "web-42"


CHECKS: dict[str, Check] = {
    "aiohttp_service.py": _web_request_id_carried,
    "fixture_test.py": _fixture_test_passed,
    "stamp_stage.py": _stamped,
    "request_id.py": _request_id_sent,
    "cache_backend.py": _served_once_from_the_shared_store,
    "custom_cache.py": _reread_after_the_update,
    "custom_auth.py": _token_from_the_store,
}


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda path: path.name)
def test_example_runs_against_the_simulator(
    example: Path,
    geobox_sim: SimulatedGeobox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("GEOBOX_APIKEY", "GEOBOX_USERNAME", "GEOBOX_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEOBOX_HOST", geobox_sim.base_url)
    monkeypatch.setenv("GEOBOX_ACCESS_TOKEN", DEMO_ACCESS_TOKEN)
    module = runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip(), f"{example.name} printed nothing"
    if not module.get("SERVES_ITSELF"):  # the simulator's own examples start their own
        assert geobox_sim.requests, f"{example.name} sent no request to GEOBOX_HOST"
    CHECKS.get(example.name, lambda sim, out: None)(geobox_sim, out)


# ----------------------------------------------------------------- rendering


def _markdown_settings() -> tuple[list[str], dict[str, dict[str, object]]]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    names: list[str] = []
    settings: dict[str, dict[str, object]] = {}
    for item in config["markdown_extensions"]:
        name, options = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        names.append(name)
        settings[name] = dict(options or {})
    settings["pymdownx.snippets"]["base_path"] = [str(DOCS)]
    return names, settings


@pytest.mark.parametrize("page", SITE_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_no_code_block_renders_as_literal_text(page: Path) -> None:
    # A fence the Markdown extensions do not understand (say, one nested in a list without
    # pymdownx.superfences) comes out as text with its backticks in it.
    names, settings = _markdown_settings()
    html = markdown.markdown(
        page.read_text(encoding="utf-8"), extensions=names, extension_configs=settings
    )
    assert "```" not in html
