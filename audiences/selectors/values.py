"""Values that exist in the data for a field (the builder's value suggestions) and "no such value" hints.

Counts are per day, kept per (dataset root, field, day) in a store counted when the data is generated and by
the scheduled warm-up (audiences/services/values.py), and cached: a window is the sum of its days, so a
suggestion is a cache or store read. Days not stored yet are sampled, then counted exactly in the background. Identifiers and free text (person_id, email, names) are never suggested.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import queue
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.core.cache import cache

from audiences import datasets, definitions, engine
from audiences.engine.buckets import EMPLOYEE_BUCKETS, SCORES
from audiences.models import FieldValueCounts
from audiences.selectors.topics import partition_rows_cached

logger = logging.getLogger(__name__)
CACHE_SECONDS = 6 * 3600  # a day's counts do not change once it has landed
MAX_SUGGESTIONS = 50
# never suggested: identifiers and per-person free text (useless as suggestions, and personal data)
PRIVATE_FIELDS = frozenset(
    {"person_id", "uid2", "email", "first_name", "last_name", "email_sha256", "sha256_email", "hashed_email"}
)
_ORDERED = {"company_employee_count": EMPLOYEE_BUCKETS, "score": SCORES}


@dataclass(frozen=True)
class ValueCount:
    value: str
    rows: int
    approximate: bool = False  # estimated from a sample of the window's files (see _counts)


def suggestible(field: str, columns: dict[str, str]) -> str | None:
    """The column's name in the dataset's casing when its values may be suggested, else None."""
    lookup = {c.lower(): c for c in columns}
    name = lookup.get((field or "").strip().lower())
    if name is None or name.lower() in PRIVATE_FIELDS or name.lower() == "day":
        return None
    return name if str(columns[name]).upper() == "VARCHAR" else None


def _day_key(root: str, field: str, day: str) -> str:
    digest = hashlib.sha1(f"{root}|{field}|{day}".encode()).hexdigest()
    return f"field-values:{digest}"


def root_digest(root: str) -> str:
    return hashlib.sha1(root.encode()).hexdigest()


def counts_pack(counts: dict[str, int]) -> bytes:
    return zlib.compress(json.dumps(counts, separators=(",", ":")).encode(), 6)


def _unpack(blob) -> dict[str, int]:
    return json.loads(zlib.decompress(bytes(blob)))


def stored_days(root: str, field: str) -> set[str]:
    """The days of ``field`` the store holds for this dataset."""
    rows = FieldValueCounts.objects.filter(root_digest=root_digest(root), field=field)
    return set(rows.values_list("day", flat=True))


def _stored(root: str, field: str, days: list[str]) -> dict[str, dict[str, int]]:
    """{day: counts} of the days the store holds (one query), put into the cache for the next request."""
    rows = FieldValueCounts.objects.filter(root_digest=root_digest(root), field=field, day__in=days)
    found = {day: _unpack(blob) for day, blob in rows.values_list("day", "counts")}
    counts_cache(root, field, found)
    return found


def counts_cache(root: str, field: str, per_day: dict[str, dict[str, int]]) -> None:
    if per_day:
        cache.set_many({_day_key(root, field, d): c for d, c in per_day.items()}, CACHE_SECONDS)


def counts_sum(per_day: dict) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in per_day.values():
        for value, n in counts.items():
            total[value] = total.get(value, 0) + n
    return total


def _counts(
    root: str,
    field: str,
    days: tuple[date, ...],
    hive: bool,
    *,
    cached_only: bool = False,
    sample: bool = False,
) -> tuple[dict[str, int], bool] | None:
    """({value: rows} over the days (all days when empty), approximate?) from the per-day cache.

    Days not cached are counted exactly and cached; with ``sample`` a window of many files is estimated from
    a bounded sample instead (approximate, not cached) while its exact count runs in the background. None
    when ``cached_only`` and a day is missing (nothing is read then).
    """
    wanted = [d.isoformat() for d in days] if hive and days else None
    if wanted is None:  # the whole dataset: one cache entry for "every day"
        wanted_keys = {"*": _day_key(root, field, "*")}
    else:
        wanted_keys = {d: _day_key(root, field, d) for d in wanted}
    found = cache.get_many(list(wanted_keys.values()))
    per_day = {d: found[k] for d, k in wanted_keys.items() if k in found}
    missing = [d for d in wanted_keys if d not in per_day]
    if missing:  # counted at data load or by the scheduled warm-up (any process)
        per_day.update(_stored(root, field, missing))
        missing = [d for d in wanted_keys if d not in per_day]
    if not missing:
        return counts_sum(per_day), False
    if cached_only:
        return None
    sel = datasets.selection(
        input_path=root, organization_ids=(), days=() if missing == ["*"] else missing, suppress=False
    )
    if sample and settings.DELIVR_VALUE_SAMPLE_FILES > 0:
        estimate = engine.engine_for(sel.input_path).value_counts_sample(
            sel,
            field,
            settings.DELIVR_VALUE_SAMPLE_FILES,
            partition_rows_cached(datasets.input_path_resolve(root)) if hive else None,
        )
        if estimate is not None:
            _count_later(root, field, tuple(missing), wanted_keys)
            return counts_sum({**per_day, "~": estimate}), True
    per_day.update(_count_days(sel, field, missing, wanted_keys))
    return counts_sum(per_day), False


def _count_days(sel, field: str, missing: list[str], wanted_keys: dict[str, str]) -> dict[str, dict]:
    """Exact counts of the missing days (or of "*", the whole dataset), stored in the cache."""
    fresh = engine.engine_for(sel.input_path).value_counts_by_day(sel, field)
    if missing == ["*"]:
        fresh = {"*": counts_sum(fresh)}
    cache.set_many({wanted_keys[d]: fresh.get(d, {}) for d in missing}, CACHE_SECONDS)
    return {d: fresh.get(d, {}) for d in missing}


_running: set[tuple] = set()
_running_lock = threading.Lock()
_jobs: queue.SimpleQueue = queue.SimpleQueue()
_counter: threading.Thread | None = None


def _count_later(root: str, field: str, missing: tuple[str, ...], wanted_keys: dict[str, str]) -> None:
    """Queue the exact count of the days for this process's counting thread (once per field and days at a
    time), so the next suggestion is exact. This process's thread, not a worker task: the embedded default's
    cache is per process, and a worker's count would never reach the web process. One long-lived thread:
    starting a thread per request cost tens of milliseconds on a busy machine."""
    global _counter
    job = (root, field, missing)
    with _running_lock:
        if job in _running:
            return
        _running.add(job)
        _jobs.put((job, wanted_keys))
        if _counter is None or not _counter.is_alive():
            _counter = threading.Thread(target=_count_jobs, name="field-values-counter", daemon=True)
            _counter.start()


def _count_jobs() -> None:
    while True:
        (root, field, missing), wanted_keys = _jobs.get()
        try:
            sel = datasets.selection(
                input_path=root,
                organization_ids=(),
                days=() if missing == ("*",) else missing,
                suppress=False,
            )
            _count_days(sel, field, list(missing), wanted_keys)
        except Exception:  # an unreadable dataset: the next request samples (and says so) again
            logger.warning("exact value counts failed for %s", field, exc_info=True)
        finally:
            with _running_lock:
                _running.discard((root, field, missing))


def counting_in_background() -> bool:
    """Whether an exact count started by a sampled answer is still running (tests and benchmarks wait)."""
    with _running_lock:
        return bool(_running)


def _window_days(window: dict, root: str, hive: bool) -> tuple[date, ...]:
    try:
        normalized = definitions.definition_normalize(window, {})
    except Exception:  # a half-typed window: suggest over every day rather than fail
        return ()
    return definitions.definition_days(normalized, input_path=root, hive=hive)


def field_values(
    *, field: str, window: dict, input_path: str | None = None, cached_only: bool = False, sample: bool = True
) -> list[ValueCount] | None:
    """Every value of ``field`` over the window with its rows: buckets in their order, others most frequent
    first. Empty for fields that are not suggested (identifiers, numbers) or unknown ones; None when
    ``cached_only`` and some day of the window has not been counted yet (nothing is scanned then).

    Uncounted days of a many-file window are estimated from a sample (each value ``approximate``; rare ones
    may be missing) while the exact count runs in the background; ``sample=False`` counts them exactly.
    """
    root = datasets.input_path_resolve(input_path) if input_path else datasets.default_input_path()
    columns = datasets.dataset_columns(root)
    name = suggestible(field, columns)
    if name is None:
        return []
    hive = "day" in columns
    found = _counts(
        root, name, _window_days(window, root, hive), hive, cached_only=cached_only, sample=sample
    )
    if found is None:
        return None
    counts, approximate = found
    order = _ORDERED.get(name.lower())
    if order:
        rank = {b: i for i, b in enumerate(order)}
        items = sorted(counts.items(), key=lambda kv: (rank.get(kv[0].lower(), len(rank)), kv[0]))
    else:
        items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [ValueCount(v, n, approximate) for v, n in items]


def condition_value_hint(*, condition: dict, window: dict) -> str | None:
    """missing_value_hint for an equality condition of the live estimate, right from the first estimate.

    The values come from the cache or, before the field was counted, from a bounded sample; a value the
    sample lacks is looked up exactly (a rare value is not "missing") before the hint names it. A lookup
    that takes longer than DELIVR_VALUE_PROBE_SECONDS finishes in the background (the next estimate has
    its answer) and the hint says it comes from a sample.
    """
    if condition.get("op") not in ("=", "in"):
        return None
    sampled = False
    try:
        values = field_values(field=condition["field"], window=window)
        if values and values[0].approximate:
            known = {v.value.lower() for v in values}
            wanted = condition.get("value")
            wanted = wanted if isinstance(wanted, list) else [wanted]
            absent = [str(w) for w in wanted if str(w).strip().lower() not in known]
            if absent:
                found = _present_within(condition["field"], window, absent)
                sampled = found is None
                values = values + [ValueCount(v, 0, True) for v in found or ()]
    except Exception:  # an unreadable dataset: the estimate itself says so
        return None
    return missing_value_hint(condition, values or [], sampled=sampled)


_probes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="value-probe")


def _present_within(field: str, window: dict, values: list[str]) -> set[str] | None:
    """Which of ``values`` exist over the window (lower-cased), or None when the lookup outlasts its time."""
    root = datasets.default_input_path()
    key = (
        "value-present:"
        + hashlib.sha1(f"{root}|{field}|{sorted(window.items())}|{sorted(values)}".encode()).hexdigest()
    )
    found = cache.get(key)
    if found is not None:
        return found

    def probe() -> set[str]:
        present = _present(root, field, window, values)
        cache.set(key, present, CACHE_SECONDS)
        return present

    future = _probes.submit(probe)
    try:
        return future.result(timeout=settings.DELIVR_VALUE_PROBE_SECONDS)
    except FutureTimeout:
        return None


def _present(root: str, field: str, window: dict, values: list[str]) -> set[str]:
    columns = datasets.dataset_columns(root)
    name = suggestible(field, columns)
    if name is None:
        return set()
    hive = "day" in columns
    days = _window_days(window, root, hive) if hive else ()
    sel = datasets.selection(input_path=root, organization_ids=(), days=days, suppress=False)
    return engine.engine_for(sel.input_path).values_present(sel, name, values)


def cached_field_values(*, field: str, window: dict) -> list[ValueCount] | None:
    """field_values of the default dataset from the cache alone (None when not all of it is cached)."""
    try:
        return field_values(field=field, window=window, cached_only=True)
    except Exception:  # an unreadable dataset: the estimate itself says so
        return None


def suggestions(values: list[ValueCount], query: str, limit: int = MAX_SUGGESTIONS) -> list[ValueCount]:
    """The values containing ``query`` (case-insensitive), those starting with it first; at most ``limit``."""
    q = (query or "").strip().lower()
    if not q:
        return values[:limit]
    starts = [v for v in values if v.value.lower().startswith(q)]
    inside = [v for v in values if q in v.value.lower() and not v.value.lower().startswith(q)]
    return (starts + inside)[:limit]


def missing_value_hint(condition: dict, values: list[ValueCount], *, sampled: bool = False) -> str | None:
    """'No value like “usa” in Country; did you mean US?' when an equality condition names no existing value.

    Only for = and in (a != or not in that names nothing simply keeps everyone); None when every value
    exists (ignoring case, as the engine does) or the field has no suggestions.
    """
    if condition.get("op") not in ("=", "in") or not values:
        return None
    known = {v.value.lower(): v.value for v in values}
    wanted = condition.get("value")
    wanted = wanted if isinstance(wanted, list) else [wanted]
    absent = [str(w) for w in wanted if str(w).strip().lower() not in known]
    if not absent:
        return None
    miss = absent[0]
    label = definitions.field_label(condition["field"])
    close = difflib.get_close_matches(miss.lower(), list(known), n=1, cutoff=0.5)
    if not close:  # "usa" → "US": a value the typed text starts with, or that starts it
        close = [k for k in known if miss.lower().startswith(k) or k.startswith(miss.lower())][:1]
    guess = f"; did you mean {known[close[0]]}?" if close else "."
    where = " (in a sample of the data)" if sampled else ""
    return f"No value like “{miss}” in {label}{where}{guess}"
