"""Run internals that the performance work changed: record keys, dedupe across batches, file-run commits."""

import polars as pl
import pyarrow as pa
import pytest

from exports.destinations.file import FileDestination
from exports.services import runs as run_services
from exports.services.runs import context as run_context
from exports.services.runs import keys as run_keys
from exports.services.runs import spool as run_spool
from tests.exports.test_runs import audience_truth, make_export
from tests.factories import ExportRunFactory


def _reference_firsts(batches: list[list[str | None]]) -> list[list[bool]]:
    seen: set[str] = set()
    out = []
    for batch in batches:
        mask = []
        for key in batch:
            mask.append(key is not None and key not in seen)
            if key is not None:
                seen.add(key)
        out.append(mask)
    return out


BATCHES = [
    ["a", "b", "a", None, "c", "b"],
    [None, None],
    ["c", "d", "e", "d", None, "a"],
    ["f"],
    ["g", "e", "h", "g", "i"],
    [],
]


@pytest.mark.parametrize("collide", [False, True])
def test_first_occurrences_across_batches_equal_a_set_even_when_every_hash_collides(monkeypatch, collide):
    if collide:  # every key hashes alike: the string comparison alone must keep the answer exact
        monkeypatch.setattr(run_keys, "key_hashes", lambda keys: pl.Series([0] * len(keys), dtype=pl.UInt64))
    seen = run_keys.SeenKeys()
    got = [run_keys.first_occurrences(pa.array(b, pa.string()), seen).to_pylist() for b in BATCHES]
    assert got == _reference_firsts(BATCHES)
    assert sorted(seen.array().to_pylist()) == list("abcdefghi")


def test_record_keys_read_the_email_only_where_person_id_is_missing():
    batch = pa.RecordBatch.from_pylist(
        [
            {"person_id": "p1", "email": "X@Y.CO"},
            {"person_id": None, "email": " Ann@Example.COM "},
            {"person_id": "  ", "email": "b@c.de"},
            {"person_id": None, "email": "   "},
            {"person_id": " p2 ", "email": None},
        ]
    )
    assert run_keys.record_keys(batch).to_pylist() == ["p1", "ann@example.com", "b@c.de", None, "p2"]


@pytest.mark.django_db
def test_file_run_in_small_batches_dedupes_across_them_writes_no_spools_and_commits_by_time(
    tenant, audience, monkeypatch
):
    monkeypatch.setattr(FileDestination, "batch_size", 500)
    spooled, commits = [], []
    monkeypatch.setattr(run_spool, "spool_write", lambda *args: spooled.append(args))
    checkpoint = run_context.checkpoint
    monkeypatch.setattr(
        run_context,
        "checkpoint",
        lambda run, attempt, **fields: commits.append(fields) or checkpoint(run, attempt, **fields),
    )
    export = make_export(
        tenant, audience, field_mapping=[{"source": "country", "target": "Country", "picklist": ["XX"]}]
    )
    run = ExportRunFactory(export=export)
    # nothing exported while every record failed: the run failed, with the first reasons in words
    assert run_services.export_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.failure_kind == "user" and run.error.startswith("Nothing was exported")
    assert "Country is not one of the allowed values" in run.error
    rows, persons = audience_truth(audience)
    assert run.records_total == len(rows) and run.records_duplicated == len(rows) - len(persons)
    # every record fails the picklist: all counted, the first MAX_RECORD_ERRORS kept per batch
    record = run.object_type_results["Record"]
    assert run.records_failed == record["records_failed"] == len(persons) and run.records_exported == 0
    assert record["error_message"] == "INVALID_PICKLIST_VALUE: Country is not one of the allowed values"
    assert run.validation_summary == {"INVALID_PICKLIST_VALUE": {"Country": len(persons)}}
    assert run.batches_done > 1  # batches of at least 500 rows (the engine's per-file ones coalesced)
    assert spooled == []  # a file run restarts from zero: it keeps no key spools
    batch_commits = [c for c in commits if "batches_done" in c]
    assert len(batch_commits) == 1 and batch_commits[0]["batches_done"] == run.batches_done  # < 5 s: once
    assert run.contact_list is None  # nothing was sent


@pytest.mark.django_db
def test_run_when_a_batch_has_more_failures_than_kept_counts_them_and_keeps_the_first(tenant, audience):
    mapping = [
        {"source": "email", "target": "Email", "type": "email", "required": True},
        {"source": "country", "target": "Country", "picklist": ["US"]},
    ]
    export = make_export(tenant, audience, field_mapping=mapping)
    run = ExportRunFactory(export=export)
    run_services.export_run_execute(run_id=run.pk)
    run.refresh_from_db()
    record = run.object_type_results["Record"]
    assert record["records_failed"] == run.records_failed > 100
    assert len(record["errors"]) == 100
    _, persons = audience_truth(audience)
    assert run.records_exported + run.records_failed == len(persons)
    assert run.contact_list.row_count == run.records_exported
