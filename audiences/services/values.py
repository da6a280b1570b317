"""Writes of the value-suggestion store: per-day value counts of every suggested field of a dataset.

Counted when a dataset is generated (``demo_dataset_ensure``, ``manage.py generate_intent_data``) and by the
scheduled warm-up (new days only), so the builder's suggestions are a read of the store in any process —
the embedded default's cache is per process, and a worker's count would never reach the web server's.
Counting the same days again overwrites them with the same counts, so a repeated warm-up changes nothing.
"""

from __future__ import annotations

import logging
import time

from audiences import datasets, definitions, engine
from audiences.models import FieldValueCounts
from audiences.selectors import values as value_selectors

logger = logging.getLogger(__name__)
WARM_DAYS = 30


def field_value_counts_store(*, root: str, field: str, per_day: dict[str, dict[str, int]]) -> None:
    """Stores (or replaces) the counts of each day of ``per_day`` ({day ISO or "*": {value: rows}})."""
    digest = value_selectors.root_digest(root)
    rows = [
        FieldValueCounts(
            root_digest=digest,
            root=root[:1000],
            field=field,
            day=day,
            counts=value_selectors.counts_pack(counts),
            values=len(counts),
        )
        for day, counts in per_day.items()
    ]
    FieldValueCounts.objects.bulk_create(
        rows,
        batch_size=200,
        update_conflicts=True,
        unique_fields=["root_digest", "field", "day"],
        update_fields=["counts", "values", "counted_at", "root"],
    )


def field_values_warm(
    *, input_path: str | None = None, days: int = WARM_DAYS, refresh: bool = False
) -> dict[str, int]:
    """Counts every suggested field over the newest ``days`` days into the store (days already stored are
    skipped unless ``refresh``: after the tree was regenerated); {field: days counted}."""
    root = datasets.input_path_resolve(input_path) if input_path else datasets.default_input_path()
    columns = datasets.dataset_columns(root)
    hive = "day" in columns
    window = [d.isoformat() for d in definitions.available_days(root)[-days:]] if hive else ["*"]
    reader = engine.engine_for(root)
    out = {}
    for name in columns:
        if not value_selectors.suggestible(name, columns):
            continue
        stored = set() if refresh else value_selectors.stored_days(root, name)
        missing = [d for d in window if d not in stored]
        if missing:
            sel = datasets.selection(
                input_path=root, organization_ids=(), days=() if missing == ["*"] else missing, suppress=False
            )
            fresh = reader.value_counts_by_day(sel, name)
            if missing == ["*"]:
                fresh = {"*": value_selectors.counts_sum(fresh)}
            per_day = {d: fresh.get(d, {}) for d in missing}
            field_value_counts_store(root=root, field=name, per_day=per_day)
            value_selectors.counts_cache(root, name, per_day)
        out[name] = len(missing)
    return out


def field_values_warm_quietly(*, input_path: str | None = None, refresh: bool = False) -> None:
    """field_values_warm for a data load: a failure is logged (suggestions then sample) rather than raised."""
    try:
        field_values_warm(input_path=input_path, refresh=refresh)
    except Exception:
        logger.warning(
            "counting the value suggestions of %s failed", input_path or "the demo data", exc_info=True
        )


def field_values_warm_queue() -> None:
    """Queues the counting of the default dataset's suggested values (a no-op when they are stored), so a
    value box answers from the store once the builder is open. Once per process per 10 minutes; without a
    broker nothing is queued (suggestions are then counted on first use)."""
    global _warm_queued_at
    now = time.monotonic()
    if now - _warm_queued_at < 600:
        return
    _warm_queued_at = now
    from audiences.tasks import field_values_warm as warm_task

    try:
        warm_task.delay()
    except Exception:
        logger.warning("could not queue the value suggestions warm-up", exc_info=True)


_warm_queued_at = -1e9
