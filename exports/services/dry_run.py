"""Dry run: how many of the audience's first records a mapping would refuse, and why, without sending any."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from audiences import engine
from audiences.models import Audience
from audiences.selectors.audiences import audience_selection
from delivr_admin.errors import ApplicationError
from exports.validation import MappingError, mapping_parse, mapping_sources, validate_batch_full

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
EXAMPLES_PER_CODE = 5


def export_dry_run(
    *,
    audience: Audience,
    field_mapping: list,
    record_limit: dict | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Validates the audience's first `limit` records (opt-outs subtracted, duplicates skipped as a run would).

    Returns counts, errors per code and field, the first examples of each code, and whether the record limit
    would stop a run (failMode "fail") or cut it (failMode "truncate").
    """
    from exports.services.exports import audience_columns, record_limit_parse
    from exports.services.runs.keys import KEY_COLUMNS, SeenKeys, first_occurrences, record_keys

    if not 1 <= limit <= MAX_LIMIT:
        raise ApplicationError(f"limit must be between 1 and {MAX_LIMIT:,}.", code="invalid_request")
    max_records, fail_mode = record_limit_parse(record_limit)
    columns = audience_columns(audience)
    try:
        mapping = mapping_parse(field_mapping, columns)
    except MappingError as exc:
        raise ApplicationError(str(exc), code="invalid_field_mapping") from exc
    wanted = list(dict.fromkeys(mapping_sources(mapping) + [c for c in KEY_COLUMNS if c in columns]))
    sel = audience_selection(audience, columns=tuple(wanted))
    try:
        kept, suppressed = engine.engine_for(sel.input_path).count_with_suppressed(sel)
    except engine.EngineError as exc:
        raise ApplicationError(f"The audience's data cannot be read: {exc}", code="invalid_audience") from exc
    tally = _Tally()
    seen = SeenKeys()
    for batch in engine.engine_for(sel.input_path).iter_batches(
        sel, batch_size=min(limit, 10_000), limit=limit
    ):
        keys = record_keys(batch)
        first = first_occurrences(keys, seen)
        n_missing = len(keys) - pc.sum(pc.cast(pc.is_valid(keys), pa.int64())).as_py()
        n_first = pc.sum(pc.cast(first, pa.int64())).as_py() or 0
        tally.checked += batch.num_rows
        tally.missing += n_missing
        tally.duplicated += batch.num_rows - n_missing - n_first
        unique, unique_keys = batch.filter(first), keys.filter(first)
        tally.add(unique, unique_keys, validate_batch_full(unique, mapping), mapping)
    unique_records = tally.checked - tally.duplicated - tally.missing
    return {
        "limit": limit,
        "audience_records": kept,
        "suppressed_count": suppressed,
        "records_checked": tally.checked,
        "records_duplicated": tally.duplicated,
        "records_without_key": tally.missing,
        "records_valid": tally.valid,
        "records_invalid": unique_records - tally.valid + tally.missing,
        "errors": tally.errors_by_code(),
        "record_limit": _record_limit_effect(kept, max_records, fail_mode),
    }


class _Tally:
    """What the dry run has seen so far: record counts, error counts per (code, field), first examples."""

    def __init__(self) -> None:
        self.checked = self.valid = self.duplicated = self.missing = 0
        self.counts: dict[tuple[str, str], int] = {}
        self.examples: dict[str, list[dict]] = {}

    def add(self, unique: pa.Table, unique_keys: pa.Array, result: Any, mapping: list) -> None:
        """Counts one batch's validation `result` over its first-seen records `unique`."""
        self.valid += result.table.num_rows
        for key, count in result.error_counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        sources = {spec.target: spec.source for spec in mapping}
        for row, target, code, message in result.errors:
            bucket = self.examples.setdefault(code, [])
            if len(bucket) < EXAMPLES_PER_CODE:
                value = unique.column(unique.schema.get_field_index(sources[target]))[row].as_py()
                bucket.append(
                    {
                        "record_key": unique_keys[row].as_py(),
                        "field": target,
                        "value": value if isinstance(value, str | int | float | bool | None) else str(value),
                        "message": message,
                    }
                )

    def errors_by_code(self) -> list[dict]:
        by_code: dict[str, dict] = {}
        for (code, target), count in sorted(self.counts.items()):
            entry = by_code.setdefault(
                code, {"code": code, "count": 0, "fields": {}, "examples": self.examples.get(code, [])}
            )
            entry["count"] += count
            entry["fields"][target] = count
        return list(by_code.values())


def _record_limit_effect(kept: int, max_records: int | None, fail_mode: str) -> dict | None:
    """What the export's record limit would do to a run of `kept` records (None without a limit)."""
    if max_records is None:
        return None
    if kept <= max_records:
        effect = "none"
    elif fail_mode == "fail":
        effect = "the run would fail before sending anything"
    else:
        effect = f"the run would stop after {max_records:,} records"
    return {
        "maxRecords": max_records,
        "failMode": fail_mode,
        "exceeded": kept > max_records,
        "effect": effect,
    }
