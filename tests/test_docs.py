"""Markdown links of the repository's documents point at files that exist inside the repository.

Checked: README.md, CHANGELOG.md, docs/*.md and the summaries in benchmarks/results/*.md. A link
must be an external http(s) address, an anchor in the same page, or a path, relative to the page,
to a file or folder of the repository that exists (its ``#anchor`` is not checked). A path that
leaves the repository (``../shared/...``), an absolute path and any other scheme (``file:``) fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted({REPO / "README.md", REPO / "CHANGELOG.md", *REPO.glob("docs/*.md"),
                *REPO.glob("benchmarks/results/*.md")})

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(\S+)", re.M)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def links(text: str) -> list[str]:
    """The link targets of a Markdown text, code blocks and code spans left out."""
    text = _CODE.sub("", _FENCE.sub("", text))
    return [m.group(1).strip("<>") for m in _INLINE.finditer(text)] + _REFERENCE.findall(text)


def bad_links(page: Path, root: Path = REPO) -> list[str]:
    """The links of ``page`` that break the rule of this module, each with the reason."""
    bad = []
    for target in links(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "#")):
            continue
        if _SCHEME.match(target) or target.startswith(("/", "\\")):
            bad.append(f"{target} (not an http(s) address nor a path relative to the page)")
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(root.resolve()):
            bad.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            bad.append(f"{target} (no such file in the repository)")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_links_point_inside_the_repository_at_files_that_exist(page: Path) -> None:
    if not page.exists():
        pytest.skip(f"{page.relative_to(REPO)} is not in this checkout")
    assert bad_links(page) == [], f"{page.relative_to(REPO)} has broken links"


def test_the_checker_finds_each_kind_of_bad_link(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n", encoding="utf-8")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "[ok](there.md#there) [web](https://example.org/a_(b)) [anchor](#x) ![img](there.md)\n"
        "[up](../docs/there.md) [out](../../shared/FACTS.md) [gone](missing.md) [abs](/etc/passwd)\n"
        "[file](file:///tmp/x) `[code](nope.md)`\n\n```\n[fenced](nope.md)\n```\n\n[ref]: also-missing.md\n",
        encoding="utf-8")
    assert bad_links(page, root=tmp_path) == [
        "../../shared/FACTS.md (outside the repository)",
        "missing.md (no such file in the repository)",
        "/etc/passwd (not an http(s) address nor a path relative to the page)",
        "file:///tmp/x (not an http(s) address nor a path relative to the page)",
        "also-missing.md (no such file in the repository)",
    ]
