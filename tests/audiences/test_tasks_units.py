"""Tasks planned as work units: partitions grouped by bytes, results per partition on the unit's row, the
status paged for huge tasks, each output still one file per partition with its own link."""

import io
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from audiences.models import Job, JobKind
from audiences.services.tasks import work_units
from tests.audiences.test_tasks_api import create, selected_keys, status_of

pytestmark = pytest.mark.django_db


def test_work_units_when_planned_then_sorted_runs_of_even_bytes_and_small_selections_whole(settings):
    sizes = {f"day=2024-05-0{d}/prefix=p/score=high": 100 for d in range(1, 9)}
    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_BYTES = 4, 1
    units = work_units(sizes)
    assert [size for _, size in units] == [200] * 4
    assert [key for keys, _ in units for key in keys] == sorted(sizes)
    settings.DELIVR_TASK_UNIT_MIN_BYTES = 10_000
    assert work_units(sizes) == [(sorted(sizes), 800)]
    assert work_units({}) == []


def test_work_units_when_planned_by_files_then_even_in_files_and_bytes_kept(settings):
    sizes = {f"day=2024-05-0{d}/prefix=p/score=high": 100 * d for d in range(1, 9)}
    files = dict.fromkeys(sizes, 1)
    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_FILES = 4, 1
    units = work_units(sizes, files=files)
    assert [len(keys) for keys, _ in units] == [2] * 4  # even in files, whatever the bytes
    assert [size for _, size in units] == [300, 700, 1100, 1500]
    settings.DELIVR_TASK_UNIT_MIN_FILES = 1000
    assert work_units(sizes, files=files) == [(sorted(sizes), 3600)]


def test_task_when_split_into_units_then_one_row_per_unit_and_counts_per_partition(
    tenant, manifest, settings
):
    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_BYTES = 3, 1
    settings.DELIVR_TASK_UNIT_MIN_FILES = 1
    client = tenant.key()
    task_id = create(client).json()["task_id"]
    status = status_of(client, task_id)
    keys = selected_keys() & set(manifest["partitions"])
    assert status["status"] == "completed"
    assert status["counts"] == {k: manifest["partitions"][k] for k in keys}
    for kind in (JobKind.COUNT, JobKind.UNLOAD):
        units = list(Job.objects.filter(task_id=task_id, kind=kind).order_by("id"))
        assert 1 < len(units) <= 4
        assert sorted(k for u in units for k in u.partitions) == sorted(keys)
        assert all(u.count == sum(u.counts) and len(u.counts) == len(u.partitions) for u in units)
        assert all([name for name, _ in files] == ["part-0.parquet"] for u in units for files in u.files)
        assert all(u.size_bytes == sum(size for files in u.files for _, size in files) for u in units)
    assert status["total_jobs"] == Job.objects.filter(task_id=task_id).count()
    assert set(status["outputs"]) == set(status["output_links"]) == keys
    for key, link in status["output_links"].items():  # each partition's own file behind its own link
        r = client.get(link.split("testserver", 1)[1])
        assert r.status_code == 200
        assert pq.read_table(io.BytesIO(b"".join(r.streaming_content))).num_rows == status["counts"][key]


def _unit_sizes(task_id, kind) -> list[int]:
    return [u.partition_count for u in Job.objects.filter(task_id=task_id, kind=kind).order_by("id")]


def test_task_when_counted_from_footers_then_units_by_files_and_the_unload_by_bytes(tenant, settings):
    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_BYTES = 3, 1  # bytes: several units
    client = tenant.key()
    plain = create(client).json()["task_id"]
    n = len(selected_keys())
    # nothing filters: a footer per file, fewer than DELIVR_TASK_UNIT_MIN_FILES, so one unit...
    assert _unit_sizes(plain, JobKind.COUNT) == [n]
    assert len(_unit_sizes(plain, JobKind.UNLOAD)) > 1  # ...while the unload reads bytes: planned by them
    where = create(client, where_expr="country = 'US'").json()["task_id"]
    assert len(_unit_sizes(where, JobKind.COUNT)) > 1  # a scan: by bytes
    assert status_of(client, plain)["counts"].keys() == status_of(client, where)["counts"].keys()


def test_task_when_an_opt_out_applies_then_counted_by_scans_planned_by_bytes(tenant, manifest, settings):
    from privacy import services as privacy_services

    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_BYTES = 3, 1
    client = tenant.key()
    before = status_of(client, create(client, perform_unload=False).json()["task_id"])
    privacy_services.optout_record(
        identifier_type="email",
        value="nobody-in-the-tree@example.com",
        source="support",
        opted_out_at=datetime.now(UTC),
        organization=tenant.org,
        actor="tests",
    )
    task_id = create(client, perform_unload=False).json()["task_id"]
    assert len(_unit_sizes(task_id, JobKind.COUNT)) > 1
    assert status_of(client, task_id)["counts"] == before["counts"]


def test_task_units_when_run_then_read_the_planned_files_without_listing(tenant, manifest, monkeypatch):
    def no_listing(*args, **kwargs):
        raise AssertionError("a unit listed the tree again")

    monkeypatch.setattr("audiences.engine.plan.layout", no_listing)  # what a unit would list with
    monkeypatch.setattr("audiences.engine.plan.local_partitions_layout", no_listing)
    client = tenant.key()
    for body in ({}, {"where_expr": "country = 'US'"}, {"format": "csv", "select": "person_id, email"}):
        status = status_of(client, create(client, **body).json()["task_id"])
        assert status["status"] == "completed", status
    assert status["counts"] == {k: manifest["partitions"][k] for k in selected_keys()}


def test_status_when_more_partitions_than_a_page_then_paged_with_a_total(tenant, manifest, settings):
    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_BYTES = 3, 1
    client = tenant.key()
    task_id = create(client).json()["task_id"]
    whole = status_of(client, task_id)
    assert "partitions_total" not in whole  # an ordinary task: the reference's shape
    settings.DELIVR_TASK_STATUS_PARTITIONS = 3
    first = status_of(client, task_id)
    assert (first["partitions_total"], first["counts_offset"], first["counts_limit"]) == (
        len(whole["counts"]),
        0,
        3,
    )
    assert len(first["counts"]) == len(first["outputs"]) == len(first["output_links"]) == 3
    pages, offset = {}, 0
    while offset < first["partitions_total"]:
        r = client.get(f"/api/v1/status/{task_id}?counts_offset={offset}&counts_limit=2")
        assert r.status_code == 200
        page = r.json()
        assert set(page["counts"]) == set(page["outputs"]) and not set(page["counts"]) & set(pages)
        pages.update(page["counts"])
        offset += 2
    assert pages == whole["counts"]
    r = client.get(f"/api/v1/status/{task_id}?counts_limit=0")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
