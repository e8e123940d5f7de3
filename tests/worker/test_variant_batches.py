"""How a monthly run splits the variants it builds into RQ jobs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.worker.handles import BUILD_BATCH, TAIL_BATCH, build_batches


@given(st.integers(min_value=0, max_value=2000))
def test_every_variant_is_built_once_in_order_in_jobs_that_shrink_from_the_largest(count):
    ids = [f"v{k}" for k in range(count)]
    batches = build_batches(ids)
    assert [variant for batch in batches for variant in batch] == ids
    sizes = [len(batch) for batch in batches]
    assert all(TAIL_BATCH <= size <= BUILD_BATCH for size in sizes[:-1])
    assert all(0 < size <= BUILD_BATCH for size in sizes)
    assert all(a >= b for a, b in zip(sizes[:-2], sizes[1:-1], strict=True))  # largest first
    if count > BUILD_BATCH:  # the last job is a small one, whoever draws it
        assert sizes[-1] < 2 * TAIL_BATCH


def test_two_hundred_variants_end_in_small_jobs_that_two_workers_share():
    sizes = [len(batch) for batch in build_batches([f"v{k}" for k in range(200)])]
    assert sizes[:5] == [BUILD_BATCH] * 5
    assert sizes[-3:] == [5, 5, 7]
