"""Process pools for per-image work, whose workers never outlive the command that started them.

Checking a dataset decodes every image and hashes it; both run Python code that holds the GIL
(header parsing, EXIF, mode conversion, the wavelet hash), so processes, one per core, are what
makes them faster: threads made the hashes slower than one loop (docs/performance.md). Three
things a bare ``ProcessPoolExecutor`` gets wrong, and this module does not:

- **Orphans.** Workers of a parent that was killed (SIGKILL, or SIGTERM without a handler) wait
  on their queue forever. Here each worker watches its parent and exits when it is gone.
- **Ctrl-C.** The terminal sends SIGINT to the whole process group: each worker printed its own
  traceback, and leaving the pool's ``with`` block ran every image still queued before the
  interrupt got through. Here workers ignore SIGINT, and the parent cancels what is queued.
- **fork beside threads.** ``fork`` starts a worker in milliseconds, but not safely in a process
  whose TensorFlow runs threads (``test`` checks its images after loading the model): there the
  workers are spawned, which costs a few tenths of a second.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

Item = TypeVar("Item")
Result = TypeVar("Result")

#: How often a worker looks whether its parent is still there (seconds).
PARENT_CHECK_S = 0.5
#: How long the parent sleeps between looks at a result (seconds): short, as results come in
#: order and each wait can add up to this much.
WAIT_STEP_S = 0.01


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system says)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _start_method() -> str:
    """fork on Linux without TensorFlow; spawn elsewhere (macOS's system libraries are not
    safe to use in a forked child)."""
    return "fork" if sys.platform == "linux" and "tensorflow" not in sys.modules else "spawn"


def pool_pays(count: int, fork_from: int) -> bool:
    """Whether ``count`` items are enough to start a pool: ``fork_from`` where workers fork,
    four times as many where they are spawned (a few tenths of a second to start two)."""
    return count >= (fork_from if _start_method() == "fork" else 4 * fork_from)


def map_in_processes(
    function: Callable[[Item], Result], items: Sequence[Item], workers: int, chunk: int
) -> Generator[Result, None, None]:
    """``function`` over ``items`` in ``workers`` processes, results in order as they come.

    ``function`` must be a module's top-level function, and the items cheap to pickle (plain
    strings). The pool is shut down when the iterator is exhausted or closed, or when the caller
    is interrupted; what was still queued then is cancelled, not run.
    """
    import multiprocessing

    context = _Recording(multiprocessing.get_context(_start_method()))
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=cast("BaseContext", context),  # a context in all but its class
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    try:
        chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        futures = [pool.submit(_run_chunk, function, part) for part in chunks]
        for future in futures:
            yield from _result(future)
    except BaseException:
        # Stop now: the chunks the workers hold (and the few queued to them) would otherwise
        # run to their end before the command can exit. This pool's workers only.
        for worker in context.started:
            worker.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


class _Recording:
    """A multiprocessing context that remembers the processes it starts: the pool's workers,
    and no other pool's (``active_children`` would name every child of the process)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.started: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def Process(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802  (the context's name)
        process = self._context.Process(*args, **kwargs)
        self.started.append(process)
        return process


def _result(future: Future[list[Result]]) -> list[Result]:
    """The future's result, waited for in short sleeps rather than on its lock: a signal (Ctrl-C)
    that the kernel hands to one of the pool's threads is then handled within a step, not when
    the work is done; and a KeyboardInterrupt raised inside a lock's wait could leave the lock
    released twice (``RuntimeError: cannot release un-acquired lock`` after the interrupt)."""
    while not future.done():
        time.sleep(WAIT_STEP_S)
    return future.result()


def _run_chunk(function: Callable[[Item], Result], part: Sequence[Item]) -> list[Result]:
    return [function(item) for item in part]


def _start_worker(parent: int) -> None:
    """In each worker: leave Ctrl-C to the parent, and exit when the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, if it had one
    threading.Thread(target=_exit_without, args=(parent,), daemon=True).start()


def _exit_without(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)
