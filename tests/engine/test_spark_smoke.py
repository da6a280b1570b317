"""The Spark cluster that bin/spark starts answers through Spark Connect and reads a hive tree exactly.

Runs only where DELIVR_SPARK_REMOTE names a Spark Connect endpoint (`.ci/run` starts one with bin/spark).
"""

import json
import os

import pytest

from audiences.engine.generator import GenerateParams, generate

REMOTE = os.environ.get("DELIVR_SPARK_REMOTE", "")

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        not REMOTE, reason="DELIVR_SPARK_REMOTE is not set (start Spark with bin/spark start)"
    ),
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(REMOTE).getOrCreate()
    yield session
    session.stop()


def test_spark_connect_when_counting_a_hive_tree_then_rows_and_persons_match_the_manifest(spark, tmp_path):
    root = str(tmp_path / "tree")
    generate(root, GenerateParams(rows=3_000, days=2, prefixes=2, seed=11))
    with open(os.path.join(root, "_manifest.json")) as fh:
        manifest = json.load(fh)

    df = spark.read.option("basePath", root).parquet(root + "/day=*/prefix=*/score=*")
    row = df.selectExpr("count(*) AS n", "count(DISTINCT person_id) AS persons").collect()[0]

    assert row["n"] == manifest["total_rows"] == 3_000
    assert row["persons"] == manifest["distinct_persons"]
    assert {"day", "prefix", "score"} <= set(df.columns)
