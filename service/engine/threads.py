"""One BLAS thread inside the backtest loop.

numpy and scipy each load an OpenBLAS that starts one thread per core. The backtest's linear
algebra is many small products (the risk model's 104-by-430 products, a 430-by-430 matrix
times a vector) where a second thread costs more to wake and join than it saves, and on a
machine whose cores other processes share it waits for a core as well: on this project's
2-core machine, shared with other work, the performance table's engine part took 24.6 s with
two BLAS threads against 18.7 s with one. (The optimizer's compiled solver calls no BLAS, but
for LAPACK's ``eigh`` of a singular reduced Hessian: rare, and a few variables wide.)

``one_blas_thread()`` limits every loaded BLAS to one thread for the duration of a block and
restores it after, so callers' own numpy work keeps its threads. Entering costs about 0.1 ms
(threadpoolctl's controller, built once per process, sets each library's thread count).
"""

from __future__ import annotations

import contextlib
import functools


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread():
    """Run the block with every loaded BLAS library limited to one thread."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
