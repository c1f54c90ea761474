"""The documentation: the mkdocs site's pages exist, the README's links resolve, the README stays short
and starts with its two commands, and every command of the CLI is on the command-line page. Cheap
checks only; CI builds the site with `mkdocs build --strict` (.ci/run), which checks every link and
anchor between pages."""

from __future__ import annotations

import re

import yaml

from conftest import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"


class _Loader(yaml.SafeLoader):
    """mkdocs.yml uses mkdocs' own tags (`!relative`): read them as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _nav_pages(items) -> list[str]:
    pages = []
    for item in items:
        if isinstance(item, str):
            pages.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)
    pages = _nav_pages(config["nav"])
    assert len(pages) == len(set(pages)) and "index.md" in pages
    assert [p for p in pages if not (DOCS / p).is_file()] == []
    assert sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")) == sorted(pages)


def test_readme_links_resolve():
    text = README.read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link.split("#")[0] for link in links if not re.match(r"[a-z]+:", link) and not link.startswith("#")]
    assert relative, "the README links to the documentation pages"
    assert [link for link in relative if not (ROOT / link).exists()] == []
    # every page of the documentation is reachable from the README, directly or through docs/index.md
    assert "docs/index.md" in relative


def test_readme_is_short_and_starts_with_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) < 150
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/learncost paper\n",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test,torch]' && .venv/bin/python -m pytest -q\n",
    ]


def test_ci_runs_the_readmes_test_command_and_builds_the_docs_strictly():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest -q" in ci
    assert "mkdocs build --strict" in ci and "'.[test,torch,docs]'" in ci


def test_every_command_is_on_the_command_line_page():
    from typer.main import get_command_name

    from learncost.cli import app

    names = [c.name or get_command_name(c.callback.__name__) for c in app.registered_commands]
    assert {"paper", "analyze", "verify", "compare-procedures", "memory"} <= set(names)
    page = (DOCS / "cli.md").read_text()
    assert [n for n in names if f"`learncost {n}`" not in page] == []


def test_the_json_page_embeds_the_shipped_schema():
    page = (DOCS / "json.md").read_text()
    schema = "src/learncost/data/schema/output.schema.json"
    assert (ROOT / schema).is_file()
    assert f'    --8<-- "{schema}"' in page.splitlines()  # pymdownx.snippets, base_path the repository root
