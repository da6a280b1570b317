"""How a run's steps tell the runner that it must stop: retry later, lost ownership, or failed in words."""

from __future__ import annotations

from exports.models import FailureKind


class RunRetry(Exception):
    """A transient failure: the run went back to `queued` (checkpoint kept); the task retries it later."""


class RunLost(Exception):
    """The run is no longer ours (the reaper requeued or failed it): stop without writing anything."""


class RunFailed(Exception):
    """The run cannot succeed; `message` is shown to the user as is, `kind` says whose failure it was."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.message = message
        self.kind = kind


def user_error(message: str) -> RunFailed:
    return RunFailed(message, FailureKind.USER)
