"""One BLAS thread inside the engine's hot loops.

numpy and scipy each load an OpenBLAS that starts one thread per core. The engine's linear
algebra is many small products (a 430-by-430 matrix times a vector, a few-by-few Cholesky
factor) where a second thread costs more to wake and join than it saves, and on a machine
whose cores other processes share it waits for a core as well: on this project's 2-core
machine, shared with other work, the performance table's engine part took 24.6 s with two
BLAS threads against 18.7 s with one, and a 500-asset solve once 50 s against 3.4 s.

``one_blas_thread()`` limits every loaded BLAS to one thread for the duration of a block and
restores it after, so callers' own numpy work keeps its threads. Entering costs about 0.1 ms
(threadpoolctl's controller, built once per process, sets each library's thread count); nested
blocks cost nothing more.
"""

from __future__ import annotations

import contextlib
import functools
import threading

_depth = threading.local()


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread():
    """Run the block with every loaded BLAS library limited to one thread."""
    depth = getattr(_depth, "value", 0)
    if depth:
        _depth.value = depth + 1
        try:
            yield
        finally:
            _depth.value = depth
        return
    _depth.value = 1
    try:
        with _controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        _depth.value = 0
