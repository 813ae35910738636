"""``call_with_room``: deep calls that go up and down map no frame-stack chunks."""

from __future__ import annotations

import platform
import resource
import sys
from collections.abc import Callable

import pytest

from abyssexp.frame_stack import call_with_room

pytestmark = pytest.mark.skipif(
    platform.python_implementation() != "CPython" or sys.version_info < (3, 11),
    reason="CPython 3.11+ keeps frames in mapped chunks",
)


def _down(depth: int) -> int:
    return 0 if depth == 0 else _down(depth - 1) + 1


def _at_depth(extra: int, function: Callable[[], None]) -> None:
    """``function`` called ``extra`` frames deeper than here."""
    if extra == 0:
        function()
    else:
        _at_depth(extra - 1, function)


def _worst_faults(wrap: Callable[[Callable[[], None]], None]) -> int:
    """The most page faults of 1,000 short recursions, over 200 starting depths: one of them
    puts a chunk boundary inside the recursion, so each of its 1,000 descents maps a chunk."""

    def bounce() -> None:
        for _ in range(1000):
            _down(3)

    worst = 0
    for extra in range(200):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        _at_depth(extra, lambda: wrap(bounce))
        worst = max(worst, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return worst


def test_no_chunk_is_mapped_per_descent_inside_call_with_room() -> None:
    assert _worst_faults(lambda f: f()) >= 1000  # the churn it removes is there without it
    assert _worst_faults(lambda f: call_with_room(f)) < 100


def test_call_with_room_returns_and_raises_as_the_function_does() -> None:
    assert call_with_room(lambda a, b=0: a + b, 2, b=3) == 5
    assert call_with_room(_down, 500) == 500

    def fail() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        call_with_room(fail)
