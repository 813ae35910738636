"""docs/output.md shows list, show, compare and a train log as they really print: its
examples are made by docs/output_examples.py, and this test makes them again."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location(
        "output_examples", ROOT / "docs" / "output_examples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shape(text: str) -> list[str]:
    """The words of the text with numbers, hashes and times set aside: what a change to the
    rendering (a header, a field, what is shown or hidden) changes, and a new run's timings,
    process ids and commit do not (their lengths move a folded line's breaks, so words are
    compared, not lines)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("warning: the model gave the same answer"):
            continue  # whether two tiny epochs collapse differs from run to run
        line = re.sub(r" ?\((same answer for every validation image|one answer)\)", "", line)
        line = re.sub(r"\(dirty\) |\b(yes|no)\b", "", line)  # the checkout, not the output
        # whether a tiny model's F1 gets an interval (constant or not) differs from run to run
        line = re.sub(r"\[(too few to tell|constant predictions)\]", "[0–0]", line)
        line = re.sub(r"\b[0-9a-f]{7,64}\b", "<hash>", line)  # commits and sha256 prefixes
        line = re.sub(r"^(git: <hash>) \S+", r"\1 <branch>", line)  # the checkout's branch
        line = line.replace(" (dirty)", "")
        line = re.sub(r"\d+(\.\d+)?(e[+-]?\d+)?", "#", line)
        line = re.sub(r"[#.:\- ]*#[#.:\- ]*", "#", line)  # dates, times, sizes
        line = re.sub(r"[ ─━┈]+", " ", line).rstrip()
        lines.append(line)
    return " ".join(lines).split()


def test_the_doc_has_the_policy_and_generated_examples() -> None:
    generated = _generator().generated_part()
    assert "abyssexp list" in generated and "abyssexp show" in generated
    assert "abyssexp compare" in generated and "epoch 1/2" in generated
    for line in generated.split("```console")[1].splitlines()[2:]:
        assert len(line) <= 80 or " " not in line.strip(), line  # the 80-column list


@pytest.mark.slow
def test_the_examples_are_what_abyssexp_prints_now() -> None:
    generator = _generator()
    with generator.scene_lock():
        fresh = _shape(generator.render(generator.make_scene()))
    doc = _shape(generator.generated_part())
    differ = [(a, b) for a, b in zip(fresh, doc, strict=False) if a != b]
    assert len(fresh) == len(doc) and not differ, (
        f"docs/output.md is out of date: run `python docs/output_examples.py`; {differ[:5]}"
    )
