"""Process settings TensorFlow reads once, when it loads: set them before anything imports it."""

from __future__ import annotations

import os


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
