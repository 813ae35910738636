"""``logs/mlflow.json``'s schema: entries read as the mirror wrote them, old ones too, and
damaged ones as "nothing known" rather than trusted."""

from __future__ import annotations

from abyssexp.schemas.mirror_state import MirrorEntry, mirror_entries

RUN = "0123456789abcdef0123456789abcdef"
PRINT = "fedcba9876543210fedcba9876543210"


def test_an_entry_reads_back_as_written() -> None:
    written = MirrorEntry(run_id=RUN, experiment_id="3", epoch=10, sources=PRINT).model_dump()
    assert mirror_entries({"sqlite:///m.db": written}) == {"sqlite:///m.db": written}


def test_an_entry_from_before_fingerprints_reads() -> None:
    old = {"http://127.0.0.1:5000": {"run_id": RUN, "experiment_id": "1", "epoch": 4}}
    assert mirror_entries(old) == {
        "http://127.0.0.1:5000": {"run_id": RUN, "experiment_id": "1", "epoch": 4, "sources": None}
    }


def test_damaged_entries_are_left_out_or_read_as_nothing_known() -> None:
    data = {
        "a": {"run_id": ["x"]},
        "b": {"run_id": "../../etc"},
        "c": {"run_id": RUN + "\n"},
        "d": [RUN],
        "e": {"run_id": RUN, "epoch": -1, "sources": "not a print", "experiment_id": None},
        "f": {"run_id": RUN, "epoch": True, "extra": 1},
        "g": {"run_id": RUN, "epoch": 10**12},
    }
    entries = mirror_entries(data)
    assert sorted(entries) == ["e", "f", "g"]
    assert entries["e"] == {"run_id": RUN, "experiment_id": "", "epoch": 0, "sources": None}
    assert entries["f"]["epoch"] == 0 and "extra" not in entries["f"]
    assert entries["g"]["epoch"] == 0
    assert mirror_entries([1, 2]) == {} and mirror_entries(None) == {}
