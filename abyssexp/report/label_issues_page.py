"""The review files of ``data label-issues``: a page of thumbnails, the suspects' COCO file and
the JSON of the ranking, written atomically into one folder.

The page is the report's kind (``build.py``): one self-contained HTML file, its thumbnails
embedded as ``data:`` URIs, its style the report's, so it opens offline and can be mailed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from abyssexp.atomic import atomic_write_json, atomic_write_text
from abyssexp.report.mistakes import thumbnail_uri
from abyssexp.results.label_issues import LabelIssues, write_suspects_coco
from abyssexp.templates import template_path

PAGE_FILE = "label-issues.html"
SUSPECTS_FILE = "suspects.coco.json"
RANKING_FILE = "label-issues.json"
TEMPLATE = "label_issues.html.j2"
#: Thumbnails on the page (about 4 kB each); the COCO file and the JSON hold every suspect.
PAGE_LIMIT = 500
THUMBNAIL_PX = 160


@dataclass(frozen=True)
class ReviewFiles:
    """Where the review files went."""

    page: Path
    suspects: Path
    ranking: Path

    def to_json(self) -> dict[str, str]:
        return {
            "page": str(self.page),
            "suspects": str(self.suspects),
            "ranking": str(self.ranking),
        }


def write_review_files(result: LabelIssues, out_dir: Path) -> ReviewFiles:
    """Write the page, the suspects' COCO file and the ranking's JSON into ``out_dir`` (made
    when missing, never through a symlinked folder below a root; checked by the caller)."""
    from abyssexp.owned import make_dirs

    make_dirs(out_dir)
    files = ReviewFiles(out_dir / PAGE_FILE, out_dir / SUSPECTS_FILE, out_dir / RANKING_FILE)
    write_suspects_coco(result, files.suspects)
    atomic_write_json(files.ranking, result.to_json())
    atomic_write_text(files.page, render_page(result))
    return files


def render_page(result: LabelIssues, limit: int = PAGE_LIMIT) -> str:
    """The HTML of the page: one card per suspect, best first, at most ``limit``."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(str(template_path("report"))),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    cards = [_card(issue.to_json()) for issue in result.issues[:limit]]
    return environment.get_template(TEMPLATE).render(
        result=result,
        cards=cards,
        hidden=max(len(result.issues) - limit, 0),
        generated=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def _card(issue: dict[str, Any]) -> dict[str, Any]:
    path = Path(issue["file"])
    return {
        **issue,
        "name": path.name,
        "given": ", ".join(issue["given"]) or "(none)",
        "suggested": ", ".join(issue["suggested"]) or "(none)",
        "uri": thumbnail_uri(path, THUMBNAIL_PX) if issue["file"] else None,
    }
