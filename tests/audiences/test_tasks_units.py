"""Tasks planned as work units: partitions grouped by bytes, results per partition on the unit's row, the
status paged for huge tasks, each output still one file per partition with its own link."""

import io

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


def test_task_when_split_into_units_then_one_row_per_unit_and_counts_per_partition(
    tenant, manifest, settings
):
    settings.DELIVR_TASK_UNITS, settings.DELIVR_TASK_UNIT_MIN_BYTES = 3, 1
    client = tenant.key()
    task_id = create(client).json()["task_id"]
    status = status_of(client, task_id)
    keys = selected_keys() & set(manifest["partitions"])
    assert status["status"] == "completed"
    assert status["counts"] == {k: manifest["partitions"][k] for k in keys}
    units = list(Job.objects.filter(task_id=task_id, kind=JobKind.COUNT).order_by("id"))
    assert 1 < len(units) <= 4 and status["total_jobs"] == 2 * len(units)
    assert sorted(k for u in units for k in u.partitions) == sorted(keys)
    assert all(u.count == sum(u.counts) and len(u.counts) == len(u.partitions) for u in units)
    assert set(status["outputs"]) == set(status["output_links"]) == keys
    for key, link in status["output_links"].items():  # each partition's own file behind its own link
        r = client.get(link.split("testserver", 1)[1])
        assert r.status_code == 200
        assert pq.read_table(io.BytesIO(b"".join(r.streaming_content))).num_rows == status["counts"][key]


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
