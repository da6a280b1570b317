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


class _SharedClock:
    """Stands in for the `time` module in ratelimit: every forked process reads one clock the test moves."""

    def __init__(self, value):
        self.value = value

    def time(self) -> float:
        return self.value.value


def _hammer(key: str, attempts: int, allowed, index: int) -> None:
    allowed[index] = sum(ratelimit.rate_limit_hit(key, rate=25, burst=50) is None for _ in range(attempts))


def test_rate_limit_is_shared_by_processes(monkeypatch):
    """Four processes hammering one key get one budget between them, exactly what one process alone gets:
    through Redis with CACHE_URL, through the SQLite store on the embedded default (it used to be skipped
    there: each process had its own). The clock is shared and moved by the test, so a loaded machine that
    starts or runs the processes late changes nothing (on the wall clock, tokens of a full bucket were lost
    while the processes waited for a CPU)."""
    import multiprocessing
    import time

    context = multiprocessing.get_context("fork")
    clock = context.Value("d", time.time(), lock=False)
    monkeypatch.setattr(ratelimit, "time", _SharedClock(clock))
    alone, shared = f"test:alone:{time.time()}", f"test:shared:{time.time()}"

    def hammer(key: str, processes: int) -> int:
        """Allowed hits of 160 attempts split over `processes` processes, all at the clock's instant."""
        allowed = context.Array("i", processes, lock=False)
        workers = [
            context.Process(target=_hammer, args=(key, 160 // processes, allowed, i))
            for i in range(processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
            assert worker.exitcode == 0, "a hammering process failed: its traceback is in the captured stderr"
        return sum(allowed)

    start = clock.value

    def rounds(key: str, processes: int) -> list[int]:
        """The burst at one instant, then what one second refilled."""
        clock.value = start
        first = hammer(key, processes)
        clock.value = start + 1.0
        return [first, hammer(key, processes)]

    one = rounds(alone, 1)
    # the burst, then one second's rate (a token more or less: the buckets' float arithmetic at this clock)
    assert 49 <= one[0] <= 50 and 24 <= one[1] <= 26, one
    assert rounds(shared, 4) == one  # four separate budgets would allow 4 times as much
