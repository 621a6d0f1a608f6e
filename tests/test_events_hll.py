"""The HyperLogLog sketch and its sliding windows: accuracy within the documented error, bounded memory, merging,
and windows that forget what slid out."""

from __future__ import annotations

import tracemalloc

import pytest

from exporter.hll import DEFAULT_PRECISION, HyperLogLog, SlidingDistinct, hash64, register_max, standard_error

SIGMA = standard_error(DEFAULT_PRECISION)


def _filled(n: int, prefix: str = "user") -> HyperLogLog:
    sketch = HyperLogLog()
    for i in range(n):
        sketch.add(f"{prefix}-{i}")
    return sketch


def test_documented_standard_error_matches_the_precision_and_the_metric_help() -> None:
    from exporter import contract

    assert pytest.approx(1.04 / 64) == SIGMA  # p = 12 -> 4096 registers
    assert f"{SIGMA * 100:.1f} %" in contract.EVENTS_DISTINCT_USERS.help


@pytest.mark.parametrize("n", [1, 10, 1_000, 50_000])
def test_distinct_count_is_within_three_standard_errors(n: int) -> None:
    sketch = _filled(n)
    estimate = sketch.estimate()
    assert abs(estimate - n) <= max(3 * SIGMA * n, 0.5), f"{n} users estimated as {estimate:.1f}"


def test_small_counts_are_nearly_exact() -> None:
    # Below a few hundred values the estimator works like linear counting: off by a register collision at most.
    for n in (1, 2, 10):
        assert round(_filled(n, f"small{n}").estimate()) == n
    for n in (37, 100, 300):
        assert abs(_filled(n, f"small{n}").estimate() - n) <= max(1.0, 3 * SIGMA * n)


def test_repeats_do_not_count() -> None:
    sketch = _filled(500)
    before = sketch.estimate()
    for i in range(500):
        assert not sketch.add(f"user-{i}")
    assert sketch.estimate() == before


def test_error_over_many_independent_sketches_is_about_the_documented_standard_error() -> None:
    n, trials = 20_000, 12
    errors = [_filled(n, f"trial{t}").estimate() / n - 1 for t in range(trials)]
    rms = (sum(e * e for e in errors) / trials) ** 0.5
    assert rms < 2 * SIGMA, f"rms relative error {rms:.4f} vs documented {SIGMA:.4f}"


def test_empty_sketch_estimates_zero() -> None:
    assert HyperLogLog().estimate() == 0.0
    assert HyperLogLog().is_empty


def test_memory_is_bounded_whatever_the_number_of_users() -> None:
    small = _filled(10)
    assert not small.is_dense and small.memory_bytes() == 40  # 10 sparse entries of 4 bytes
    tracemalloc.start()
    try:
        big = _filled(50_000)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    m = 1 << DEFAULT_PRECISION
    assert big.is_dense
    assert big.memory_bytes() <= m + 1024
    assert current < 4 * m + 16_384, f"50 000 users cost {current} bytes"
    assert _filled(100_000, "more").memory_bytes() == big.memory_bytes()


def test_sparse_form_switches_to_dense_before_it_gets_bigger() -> None:
    sketch = HyperLogLog()
    m = sketch.m
    i = 0
    while not sketch.is_dense:
        assert sketch.memory_bytes() <= m // 2
        sketch.add(f"x{i}")
        i += 1
    assert m // 8 <= i <= m  # switched around m/8 distinct registers
    assert abs(sketch.estimate() - i) <= 3 * SIGMA * i + 1


def test_merge_estimates_the_union() -> None:
    a, b = _filled(3000, "a"), _filled(3000, "b")
    both = _filled(1500, "a")
    for i in range(1500):
        both.add(f"c-{i}")
    union = HyperLogLog.union([a, b, both])
    assert abs(union.estimate() - 7500) <= 3 * SIGMA * 7500
    # merging is idempotent and sparse + dense mixes work both ways
    small = _filled(5, "a")
    small.merge(a)
    assert small.estimate() == a.estimate()
    a.merge(_filled(5, "a"))
    assert a.estimate() == small.estimate()
    with pytest.raises(ValueError):
        a.merge(HyperLogLog(10))


def test_hash_is_stable_across_processes() -> None:
    # BLAKE2b, not Python's per-process salted hash(): a fixed value proves it.
    assert hash64("user-1") == int.from_bytes(__import__("hashlib").blake2b(b"user-1", digest_size=8).digest(), "big")


def test_window_counts_values_until_their_slot_slides_out() -> None:
    window = SlidingDistinct(slot_seconds=300, slots=12)
    t0 = 1_700_000_000 - 1_700_000_000 % 300  # start of a slot
    for i in range(40):
        window.add_hash(hash64(f"early-{i}"), t0 + 10, t0 + 10)
    for i in range(25):
        window.add_hash(hash64(f"late-{i}"), t0 + 1800, t0 + 1800)
    both = window.estimate()
    assert abs(both - 65) <= 1.5
    # 11 slots after the first one the early users are still in the window...
    window.advance(t0 + 11 * 300 + 299)
    assert window.estimate() == both
    # ...one slot later they are gone, the late ones stay until their own slot expires.
    assert window.advance(t0 + 12 * 300)
    assert abs(window.estimate() - 25) <= 1.0
    window.advance(t0 + 1800 + 12 * 300)
    assert window.estimate() == 0 and window.is_empty and len(window) == 0


def test_window_places_late_values_in_their_own_slot_and_ignores_expired_or_future_ones() -> None:
    window = SlidingDistinct(slot_seconds=3600, slots=24)
    now = 1_700_000_000.0
    assert window.add_hash(hash64("two-hours-ago"), now - 7200, now)
    assert not window.add_hash(hash64("two-days-ago"), now - 2 * 86400, now)
    assert window.add_hash(hash64("tomorrow"), now + 86400, now)  # counted as now
    assert round(window.estimate()) == 2
    assert len(window) == 2  # the late value has its own (older) slot
    window.advance(now - 7200 + 24 * 3600)  # the two-hours-ago slot leaves first
    assert round(window.estimate()) == 1


def test_window_memory_is_bounded_by_its_slots() -> None:
    window = SlidingDistinct(slot_seconds=300, slots=12)
    now = 1_700_000_000.0
    for step in range(60):  # five hours of traffic, 2 000 users per 5-minute slot
        t = now + step * 300
        for i in range(2000):
            window.add_hash(hash64(f"u{step}-{i}"), t, t)
    m = 1 << DEFAULT_PRECISION
    assert len(window) == 12
    assert window.memory_bytes() <= 13 * (m + 1024)
    assert abs(window.estimate() - 24_000) <= 3 * SIGMA * 24_000


def test_union_in_one_pass_equals_merging_one_by_one() -> None:
    sketches = [_filled(3000, f"dense{i}") for i in range(5)] + [_filled(20, f"sparse{i}") for i in range(3)]
    assert all(s.is_dense for s in sketches[:5]) and not any(s.is_dense for s in sketches[5:])
    one_by_one = HyperLogLog()
    for sketch in sketches:
        one_by_one.merge(sketch)
    union = HyperLogLog.union(sketches)
    assert union.histogram() == one_by_one.histogram()
    assert union.estimate() == one_by_one.estimate()


def test_a_window_a_slot_left_is_stale_until_rebuilt_and_keeps_what_is_added_meanwhile() -> None:
    window = SlidingDistinct(slot_seconds=300, slots=12)
    t0 = 1_700_000_000 - 1_700_000_000 % 300
    for i in range(40):
        window.add_hash(hash64(f"early-{i}"), t0, t0)
    assert window.advance(t0 + 12 * 300) and window.stale  # the early slot left: dropped, union not yet rebuilt
    for i in range(7):
        window.add_hash(hash64(f"new-{i}"), t0 + 12 * 300, t0 + 12 * 300)
    assert window.stale
    assert abs(window.estimate() - 7) <= 0.5  # estimate() rebuilds: the new users, not the early ones
    assert not window.stale


def test_register_max_is_the_register_wise_maximum() -> None:
    """The whole-integer maximum must equal a per-register max for every register value a sketch can hold
    (0 to q + 1 = 61 at the lowest precision), equal values, and a single array (a copy)."""
    import random

    rnd = random.Random(7)
    values = [0, 1, 2, 60, 61, *range(3, 62)]
    arrays = [bytearray(rnd.choice(values) for _ in range(4096)) for _ in range(24)]
    arrays.append(bytearray(arrays[0]))  # ties
    assert register_max(arrays) == bytearray(map(max, *arrays))
    assert register_max(arrays[:2]) == bytearray(map(max, arrays[0], arrays[1]))
    single = register_max(arrays[:1])
    assert single == arrays[0] and single is not arrays[0]
    assert register_max([bytearray(16), bytearray(b"\x3d" * 16)]) == bytearray(b"\x3d" * 16)
