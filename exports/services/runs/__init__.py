"""Export runs, one module per step: start (queue) -> read (load, limit, suppression, resume) -> send (stream,
dedupe, validate, write, checkpoint) -> finish (list, final status), run by `execute`; `schedule` holds the
reaper and the scheduler. The steps share a typed `RunContext` (context.py).

A run is claimed with a conditional update (queued -> running, attempts + 1), so a duplicate delivery does
nothing. After every batch the run commits a checkpoint: batches_done, the accumulated counts and per-object
results, and a small spool file with the batch's record keys. A retried attempt reloads those keys and skips
the records they name, so it resumes after the last committed batch (whatever order the engine streams in);
the batch in flight when a worker died is sent again with the same idempotency keys (`<run_id>:<record_key>`),
which the destination uses to never create a record twice. Between two commits, every write the destination
answered is committed on its own as a progress part (parts.py), so a retry resends only the write in flight. Destinations that cannot resume (a file built
locally) declare `resumable = False`, and their runs restart from zero instead.
"""

from exports.services.runs.errors import RunFailed, RunLost, RunRetry
from exports.services.runs.execute import export_run_execute
from exports.services.runs.schedule import export_runs_reap, export_schedule_due
from exports.services.runs.start import export_run_start

__all__ = [
    "RunFailed",
    "RunLost",
    "RunRetry",
    "export_run_execute",
    "export_run_start",
    "export_runs_reap",
    "export_schedule_due",
]
