import pytest

from delivr_admin import ratelimit


@pytest.mark.parametrize("rate,burst,seconds", [(25, 50, 10.0), (5, 5, 4.0)])
def test_rate_limit_when_hammered_allows_burst_then_rate(monkeypatch, rate, burst, seconds):
    """A client sending 100 requests/s gets the burst at once, then `rate` per second, on any cache backend."""
    clock = {"now": 1_000_000.0}
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock["now"])
    key = f"test:{rate}:{burst}:{id(clock)}"
    allowed = 0
    for _ in range(int(seconds * 100)):
        if ratelimit.rate_limit_hit(key, rate=rate, burst=burst) is None:
            allowed += 1
        clock["now"] += 0.01
    expected = burst + rate * seconds
    assert expected - 2 <= allowed <= expected + 1


def test_rate_limit_wait_says_when_the_next_request_is_allowed(monkeypatch):
    clock = {"now": 2_000_000.0}
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock["now"])
    for _ in range(3):
        assert ratelimit.rate_limit_hit("test:wait", rate=2, burst=3) is None
    wait = ratelimit.rate_limit_hit("test:wait", rate=2, burst=3)
    assert wait == pytest.approx(0.5)
    clock["now"] += wait
    assert ratelimit.rate_limit_hit("test:wait", rate=2, burst=3) is None


def _hammer(args):
    key, deadline = args
    allowed, first = 0, ratelimit.time.time()
    while ratelimit.time.time() < deadline:
        if ratelimit.rate_limit_hit(key, rate=25, burst=50) is None:
            allowed += 1
    return allowed, first


def test_rate_limit_is_shared_by_processes():
    """Four processes hammering one key get one budget between them: through Redis with CACHE_URL, through
    the SQLite store on the embedded default (it used to be skipped there: each process had its own)."""
    import multiprocessing
    import time

    key = f"test:shared:{time.time()}"
    deadline = time.time() + 3.0
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_hammer, [(key, deadline)] * 4)
    allowed = sum(count for count, _ in results)
    # the bucket refills from the first hit on; a loaded machine may start the workers late
    expected = 50 + 25 * (deadline - min(first for _, first in results))
    assert expected - 5 <= allowed <= expected + 5
