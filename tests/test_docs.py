"""The links between README.md, SECURITY.md and docs/*.md lead somewhere.

Every relative link must name a file that exists, every ``#anchor`` (in the same file or in
``file.md#anchor``) a heading of that file as GitHub makes its anchor, and every file under
``docs/`` must be linked from the README, so that none is left where nobody finds it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "SECURITY.md", *sorted(DOCS.rglob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines of a markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation but '-' and '_' dropped, spaces '-'.

    Markup that does not show (backticks, emphasis, a link's target) goes first.
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"[`*]", "", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters, digits and '_' (unicode too)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a markdown text's headings; a repeated one gets -1, -2... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> list[str]:
    """The targets of the markdown links of a text, outside code."""
    targets = []
    for line in prose_lines(text):
        targets += LINK.findall(INLINE_CODE.sub("", line))
    return targets


def broken_links(path: Path) -> list[str]:
    """What is wrong with each relative link of the markdown file ``path``."""
    problems = []
    for target in links(path.read_text(encoding="utf-8")):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.name}: {target}: no file {file_part}")
            continue
        headings = anchors(linked.read_text(encoding="utf-8")) if linked.suffix == ".md" else None
        if anchor and headings is not None and anchor not in headings:
            problems.append(f"{path.name}: {target}: no heading #{anchor} in {linked.name}")
    return problems


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Quick start", "quick-start"),
        ("The API (`/v1`)", "the-api-v1"),
        ("Keys, scopes and errors", "keys-scopes-and-errors"),
        (
            "API1:2023 Broken Object Level Authorization",
            "api12023-broken-object-level-authorization",
        ),
        ("The `plusalpha` command", "the-plusalpha-command"),
        ("CLI start-up", "cli-start-up"),
        ("snake_case stays", "snake_case-stays"),
    ],
)
def test_a_heading_gets_githubs_anchor(heading, anchor):
    assert slug(heading) == anchor


def test_repeated_headings_and_code_blocks(tmp_path):
    text = "# Speed\n\n## Speed\n\n```\n# not a heading\n```\n"
    assert anchors(text) == {"speed", "speed-1"}
    assert links("see `[a](b.md)` and\n```\n[c](d.md)\n```\n[e](f.md#g)") == ["f.md#g"]


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[fine](other.md#a-section) [here](#page) [web](https://example.com/x)\n"
        "[gone](missing.md) [no anchor](other.md#b-section) [no anchor here](#nowhere)\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md: no file missing.md",
        "page.md: other.md#b-section: no heading #b-section in other.md",
        "page.md: #nowhere: no heading #nowhere in page.md",
    ]


@pytest.mark.parametrize("path", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_leads_somewhere(path):
    assert broken_links(path) == []


def test_every_file_under_docs_is_linked_from_the_readme():
    readme = ROOT / "README.md"
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for target in links(readme.read_text(encoding="utf-8"))
        if not EXTERNAL.match(target) and target.partition("#")[0]
    }
    files = [path for path in sorted(DOCS.rglob("*")) if path.is_file()]
    assert files, "docs/ is empty"
    assert [str(path.relative_to(ROOT)) for path in files if path.resolve() not in linked] == []
