"""A running export run's progress and the time it has left, from its own pace so far."""

from __future__ import annotations

from django.utils import timezone

from exports.models import ExportRun, RunStatus

MIN_PROCESSED = 1  # no estimate before the first batch is committed


def run_progress(run: ExportRun) -> tuple[int, int | None]:
    """(records processed, records expected or None when not counted yet)."""
    expected = run.records_expected
    if expected is not None:
        expected = max(expected, run.records_total)
    return run.records_total, expected


def run_seconds_left(run: ExportRun) -> int | None:
    """Seconds until the run ends at the pace it has kept since it started; None when unknown or done."""
    if run.status != RunStatus.RUNNING or run.started_at is None:
        return None
    done, expected = run_progress(run)
    if expected is None or done < MIN_PROCESSED:
        return None
    elapsed = (timezone.now() - run.started_at).total_seconds()
    if elapsed <= 0:
        return None
    return max(0, round((expected - done) * elapsed / done))


def duration_words(seconds: int | None) -> str:
    """`about 3 min left`, `under a minute left`; "" when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "under a minute left"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    return f"about {minutes / 60:.1f} h left"
