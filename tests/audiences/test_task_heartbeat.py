"""The task jobs' heartbeat thread survives a failed beat (SQLite busy past its timeout on a loaded machine): it
logs and beats again, instead of dying and letting the reaper take a job whose worker is alive."""

import threading

from django.db import OperationalError

from audiences.services import tasks as task_services


class _Jobs:
    """Stands in for Job.objects: the first update fails as SQLite's 'database is locked' does."""

    def __init__(self) -> None:
        self.calls = 0
        self.beaten = threading.Event()

    def filter(self, **_lookups):
        return self

    def update(self, **_fields) -> int:
        self.calls += 1
        if self.calls == 1:
            raise OperationalError("database is locked")
        self.beaten.set()
        return 1


def test_heartbeat_when_a_beat_fails_logs_and_beats_again(monkeypatch, caplog):
    jobs = _Jobs()
    monkeypatch.setattr(task_services, "JOB_HEARTBEAT_EVERY", 0.01)
    monkeypatch.setattr(task_services.Job, "objects", jobs)
    with task_services._heartbeat([1, 2]):
        assert jobs.beaten.wait(30), "the heartbeat stopped after its first failed beat"
    assert jobs.calls >= 2
    assert any("heartbeat failed" in r.getMessage() for r in caplog.records)
