"""A task through the API on the Spark engine: the deployment routes the dataset root to Spark, the task's
counts and unloads come from the cluster, an opted-out person is removed, the figures equal the tree's.

Runs only where DELIVR_SPARK_REMOTE names a Spark Connect endpoint (`.ci/run` starts one with bin/spark).
"""

import os
from datetime import UTC, datetime

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from prometheus_client import REGISTRY

from audiences import datasets, engine
from delivr_admin import storage
from privacy.services import optout_record

REMOTE = os.environ.get("DELIVR_SPARK_REMOTE", "")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.spark,
    pytest.mark.skipif(
        not REMOTE, reason="DELIVR_SPARK_REMOTE is not set (start Spark with bin/spark start)"
    ),
]
DAY, PREFIX, SCORES = "2024-05-02", "4eyes_101", ("high", "medium")


@pytest.fixture
def spark_routed(settings, intent_root):
    settings.DELIVR_ENGINE = "duckdb"
    settings.DELIVR_SPARK_REMOTE = REMOTE
    settings.DELIVR_ENGINE_ROOTS = {str(intent_root): "spark"}  # this root only: per-dataset routing
    datasets.engines_configure()
    yield engine.engine_for(str(intent_root))
    engine.route_engines()


def test_task_when_root_routed_to_spark_then_counts_and_unloads_come_from_it_without_opt_outs(
    tenant, intent_root, spark_routed
):
    table = ds.dataset(str(intent_root), format="parquet", partitioning="hive").to_table(
        filter=(ds.field("day").cast("string") == DAY) & (ds.field("prefix") == PREFIX)
    )
    person = table.slice(0, 1).to_pylist()[0]
    optout_record(
        identifier_type="email",
        value=person["email"].upper(),
        source="support",
        opted_out_at=datetime(2026, 3, 1, tzinfo=UTC),
        actor="test",
    )
    theirs = pc.equal(table["person_id"], person["person_id"])
    client = tenant.key()
    before = {op: _spark_seconds(op) for op in ("count_partitions", "unload_partitioned_folder")}

    r = client.post(
        "/api/v1/intent_hive_tasks",
        {"days": [DAY], "topic_id_prefixes": [PREFIX], "scores": list(SCORES)},
        format="json",
    )
    assert r.status_code == 201, r.content
    status = client.get(f"/api/v1/status/{r.json()['task_id']}").json()

    assert spark_routed.name == "spark" and spark_routed.connected
    assert status["status"] == "completed", status
    total = 0
    for score in SCORES:
        key = f"day={DAY}/prefix={PREFIX}/score={score}"
        in_score = pc.equal(table["score"], score)
        kept = int(pc.sum(pc.and_(in_score, pc.invert(theirs))).as_py())
        assert status["counts"][key] == kept > 0
        total += kept
        with storage.open_read(storage.name_of(status["outputs"][key])) as fh:
            unloaded = pq.read_table(fh)
        assert unloaded.num_rows == kept
        assert person["person_id"] not in unloaded["person_id"].to_pylist()
    assert status["total_count"] == total
    # the cluster wrote the files (settings.DELIVR_ENGINE_WRITES_OUTPUTS) into staging folders, all gone now
    staging = os.path.join(storage.store().root, storage.STAGING)
    assert isinstance(spark_routed, engine.WritesOutputs) and os.path.isdir(staging)
    assert not os.listdir(staging)
    # the cluster's time is in the engine-time metric, under engine "spark"
    for op, (count, seconds) in before.items():
        now = _spark_seconds(op)
        assert now[0] >= count + 1 and now[1] > seconds, op


def _spark_seconds(operation: str) -> tuple[float, float]:
    """(operations observed, seconds) of delivr_engine_duration_seconds for a Spark operation."""
    labels = {"operation": operation, "engine": "spark"}
    count = REGISTRY.get_sample_value("delivr_engine_duration_seconds_count", labels) or 0.0
    return count, REGISTRY.get_sample_value("delivr_engine_duration_seconds_sum", labels) or 0.0
