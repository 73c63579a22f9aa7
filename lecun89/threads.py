"""One BLAS thread for every computation: where lecun89's bit-reproducibility lives.

A BLAS library splits a matrix product across threads, and how it splits it
changes the order of the additions and so the last bits of the result. Every
place lecun89 computes outputs or trains runs inside :func:`one_thread`:
``Network.predict`` (so evaluation, ``lecun89 eval`` and any Python caller),
``run_training``, and every ``lecun89`` command (``cli.main``), so a new entry
point gets the guarantee by construction. Whatever ``OPENBLAS_NUM_THREADS`` /
``OMP_NUM_THREADS`` say, or however many cores the machine has, the same
weights and data give bit-identical numbers. One thread is also the fastest
setting for this network's small products; parallel work runs as processes.

What stays out of reach: a different numpy/OpenBLAS build, or a CPU on which
OpenBLAS picks another kernel family, may round differently (last bits).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

_controller = None
_lock = threading.Lock()


def _get_controller():
    # Built on first use, once numpy's and scipy's BLAS libraries are loaded:
    # inspecting the loaded libraries costs milliseconds, limiting them
    # through a kept controller microseconds.
    global _controller
    with _lock:
        if _controller is None:
            import numpy  # noqa: F401  (load the BLAS libraries first)
            import scipy.linalg.blas  # noqa: F401
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        return _controller


@contextmanager
def one_thread():
    """Run the block with every BLAS and OpenMP pool limited to one thread.

    Nests freely; on exit the previous limits are restored."""
    with _get_controller().limit(limits=1):
        yield


def thread_info() -> list[dict]:
    """The loaded thread pools and their current sizes (for meta.json)."""
    return [{k: d.get(k) for k in ("user_api", "internal_api", "num_threads", "version", "architecture")}
            for d in _get_controller().info()]
