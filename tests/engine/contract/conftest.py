"""Backends the engine contract tests run on: DuckDB always, Spark when DELIVR_SPARK_REMOTE names a cluster.

The Spark session is opened once for the whole test session (its first query starts the executor, the slow
part); the generated tree is small (3,000 rows) so the Spark phase of CI stays within minutes.
"""

import json
import os

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from audiences.engine.contract import DuckDBEngine
from audiences.engine.generator import GenerateParams, generate

SPARK_REMOTE = os.environ.get("DELIVR_SPARK_REMOTE", "")
HIVE = ds.partitioning(
    pa.schema([("day", pa.string()), ("prefix", pa.string()), ("score", pa.string())]), flavor="hive"
)


@pytest.fixture(scope="session")
def contract_tree(tmp_path_factory):
    """(root, manifest, the whole tree read independently with pyarrow: day/prefix/score as strings)."""
    root = str(tmp_path_factory.mktemp("engine-contract") / "tree")
    generate(root, GenerateParams(rows=3_000, days=2, prefixes=2, seed=7))
    with open(os.path.join(root, "_manifest.json")) as fh:
        manifest = json.load(fh)
    return root, manifest, ds.dataset(root, format="parquet", partitioning=HIVE).to_table()


@pytest.fixture(scope="session")
def _spark_engine():
    from audiences.engine.spark import SparkEngine

    spark = SparkEngine(SPARK_REMOTE, shared_folders=True)  # bin/spark's cluster runs on this machine
    yield spark
    spark.close()


@pytest.fixture(
    scope="session",
    params=[
        "duckdb",
        pytest.param(
            "spark",
            marks=[
                pytest.mark.spark,
                pytest.mark.skipif(
                    not SPARK_REMOTE,
                    reason="DELIVR_SPARK_REMOTE is not set (start Spark with bin/spark start)",
                ),
            ],
        ),
    ],
)
def backend(request):
    """The engine under test (the same questions must get the same answers from every backend)."""
    if request.param == "duckdb":
        return DuckDBEngine()
    return request.getfixturevalue("_spark_engine")


@pytest.fixture(scope="session")
def reference():
    """The DuckDB engine, for answers whose exact shape (sample rows, CSV text) is compared across engines."""
    return DuckDBEngine()
