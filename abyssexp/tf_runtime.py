"""Process settings TensorFlow reads once, when it loads: set them before anything imports it."""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def configure_tensorflow_environment() -> None:
    """Defaults for an abyssexp process; any value the user has set already is kept.

    - ``TF_CPP_MIN_LOG_LEVEL=2``: TensorFlow's INFO banner (oneDNN, CUDA probing) is noise at a
      prompt.
    - ``TF_CPU_ALLOCATOR_USE_BFC=true``: TensorFlow's own pooling allocator for CPU tensors. With
      glibc's malloc, whether a decoded photo cast to float32 (3.7 MB at 640×480) is served from
      the heap or mmapped and page-faulted afresh for every image depends on the process's
      allocation history: the same augmented training pipeline ran at 388 images/s in one process
      and 572 in the next. With the pool it ran at 519–523 in every process
      (``docs/performance.md``).
    - ``TF_CPU_BFC_MEM_LIMIT_IN_MB``: the pool's cap, set to the machine's physical memory
      (TensorFlow's own default cap is 64 GB, whatever the machine has).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    if "TF_CPU_BFC_MEM_LIMIT_IN_MB" not in os.environ:
        try:
            physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
            return
        os.environ["TF_CPU_BFC_MEM_LIMIT_IN_MB"] = str(max(1024, physical >> 20))


VERBOSE_ENV = "ABYSSEXP_VERBOSE"
_STATE = {"verbose": os.environ.get(VERBOSE_ENV, "") not in ("", "0")}


def show_tensorflow_messages() -> None:
    """``abyssexp --verbose``: let TensorFlow's C++ start-up messages through, all of them, in
    this process and in the processes it starts (``train --on local``)."""
    _STATE["verbose"] = True
    os.environ[VERBOSE_ENV] = "1"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


def verbose() -> bool:
    """Whether ``--verbose`` (or ``ABYSSEXP_VERBOSE=1`` from a parent process) is on."""
    return _STATE["verbose"]


@contextmanager
def _stderr_held() -> Iterator[None]:
    """File descriptor 2 sent to a temporary file for the block; its text is shown only when
    the block raises (then it may explain why)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load_tensorflow() -> None:
    """Import TensorFlow and look for GPUs with the process's stderr (file descriptor 2) sent
    to a temporary file: the oneDNN banner, "Could not find cuda drivers", "failed call to
    cuInit" and absl's "All log messages before absl::InitializeLog()" are written by C++ before
    ``TF_CPP_MIN_LOG_LEVEL`` applies. They are shown with ``--verbose``, or when the import fails.
    """
    if "tensorflow" in sys.modules:
        return
    with _extras_hidden():
        if _STATE["verbose"]:
            import tensorflow  # noqa: F401

            return
        with _stderr_held():
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")


#: Libraries Keras imports, when installed, for features abyssexp never uses: scikit-learn and
#: SciPy (its scikit-learn wrappers), Matplotlib's pyplot (its image-gallery plots), pandas (data
#: frames as ``fit`` input). Hidden while TensorFlow and Keras load (``_extras_hidden``).
KERAS_EXTRAS = ("sklearn", "matplotlib", "pandas")


@contextmanager
def _extras_hidden() -> Iterator[None]:
    """``import sklearn`` (and the rest of ``KERAS_EXTRAS``) fails inside the block, as where
    they are not installed.

    Keras imports them at start-up whenever they are installed: 1.5 s of a 6 s TensorFlow start
    (``docs/performance.md``), paid by every command that trains, tests or predicts. Keras falls
    back to "not installed" for its wrappers, plots and data-frame input, none of which abyssexp
    calls; after the block each imports again (abyssexp draws its own figures with Matplotlib,
    cleanlab brings scikit-learn for ``labels``). Nothing changes for one loaded already or not
    installed.
    """
    hidden = [name for name in KERAS_EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "absent"
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


#: Modules whose first import the CLI wraps: TensorFlow's with its start-up noise held and
#: ``KERAS_EXTRAS`` hidden, Keras's (when it comes first and imports TensorFlow itself) with
#: ``KERAS_EXTRAS`` hidden.
_WRAPPED = ("tensorflow", "keras")


class _QuietLoader(importlib.abc.Loader):
    """The real loader, run with ``KERAS_EXTRAS`` hidden and, for TensorFlow, stderr held (see
    ``load_tensorflow``)."""

    def __init__(self, real: Any, name: str) -> None:
        self.real = real
        self.name = name

    def create_module(self, spec: Any) -> Any:
        return self.real.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with _extras_hidden():
            if self.name != "tensorflow" or _STATE["verbose"]:
                self.real.exec_module(module)
                return
            with _stderr_held():
                self.real.exec_module(module)
                module.config.list_physical_devices("GPU")  # cuInit speaks here, once


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` and ``keras`` the first time anything imports them (a command, a
    library module, one another) and hands back their specs with the quiet loader; then steps
    aside."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in _WRAPPED or name in self.seen:
            return None
        self.seen.add(name)
        if self.seen.issuperset(_WRAPPED) and self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)  # this finder answers None for it now
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader, name)
        return spec


def quiet_tensorflow_imports() -> None:
    """Make every later TensorFlow (and Keras) import in this process quiet and free of
    ``KERAS_EXTRAS``, whichever command or module makes it: the CLI calls this once, so no command
    can forget (``predict``, ``export``, ``promote --export``, ``sweep run`` and the child
    processes of ``--on local`` included)."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())
