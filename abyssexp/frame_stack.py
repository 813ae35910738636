"""Deep call stacks without CPython's frame-chunk churn.

CPython (3.11 and later) keeps Python frames in a stack of 16 KiB chunks that it maps with
``mmap`` when a frame does not fit and unmaps as soon as the stack unwinds below a chunk's first
frame. TensorFlow's tracing (Keras layers calling layers calling ops, for the train, test and
pipeline functions) goes hundreds of frames deep, up and down, over and over: when a chunk
boundary falls where it goes up and down, every crossing costs an ``mmap``, fresh page faults
and an ``munmap``. Where the boundaries fall depends only on how deep the caller already was.
Measured on one ``abyssexp train`` (MobileNetV3Small, 64 px, one epoch; ``docs/performance.md``,
issue 24): 252,000 chunk maps from the command line's depth, about 1.5 s of CPU (most of it
system time), against 128,000 for a plain script calling ``fit`` from its module level and
9,000 (all before training) with the run inside ``call_with_room``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")

#: Frame-stack slots (8 bytes each) that the trampoline's frame reserves and never uses: just
#: over 512 KiB, so CPython gives it a chunk of its own of 1 MiB (chunks are 16 KiB, doubled
#: until the frame fits), and every frame of the call lives in the other ~500 KiB of it.
RESERVED_SLOTS = 65_600


def _call(function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return function(*args, **kwargs)


_roomy_call = types.FunctionType(
    _call.__code__.replace(co_stacksize=_call.__code__.co_stacksize + RESERVED_SLOTS),
    _call.__globals__,
    "_roomy_call",
)


def call_with_room(function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """``function(*args, **kwargs)``, its frames in a frame-stack chunk of their own.

    No chunk boundary is crossed until the call is ~500 KiB of frames deeper than here
    (thousands of frames: Python's recursion limit comes first), so deep tracing maps nothing.
    The chunk is mapped once and unmapped when the call returns; the reserved part is never
    touched, so it costs no memory. On an interpreter that keeps frames otherwise this is an
    ordinary call (a frame that asks for more stack than it uses is always valid).
    """
    result: Result = _roomy_call(function, args, kwargs)
    return result
