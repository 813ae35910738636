"""Process settings TensorFlow reads once, when it loads: set them before anything imports it."""

from __future__ import annotations

import os
import sys
import tempfile


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


_STATE = {"verbose": False}


def show_tensorflow_messages() -> None:
    """``abyssexp --verbose``: let TensorFlow's C++ start-up messages through, all of them."""
    _STATE["verbose"] = True
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


def load_tensorflow() -> None:
    """Import TensorFlow and look for GPUs with the process's stderr (file descriptor 2) sent
    to a temporary file: the oneDNN banner, "Could not find cuda drivers", "failed call to
    cuInit" and absl's "All log messages before absl::InitializeLog()" are written by C++ before
    ``TF_CPP_MIN_LOG_LEVEL`` applies. They are shown with ``--verbose``, or when the import fails.
    """
    if _STATE["verbose"] or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
