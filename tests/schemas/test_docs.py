from pathlib import Path

from abyssexp.schemas.docs import render_params_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "params.md"


def test_params_doc_is_generated_from_the_schema() -> None:
    assert DOC.read_text() == render_params_markdown(), (
        "docs/params.md is out of date: run `python -m abyssexp.schemas.docs > docs/params.md`"
    )
