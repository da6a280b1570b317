"""The engine contract: DuckDBEngine implements Engine; engine_for routes dataset roots to backends."""

import io
import json
import os

import pyarrow.parquet as pq
import pytest

from audiences.engine.contract import (
    DuckDBEngine,
    Engine,
    Selection,
    Suppression,
    engine_for,
    register_backend,
    route_engines,
)
from audiences.engine.generator import GenerateParams, generate


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("contract") / "tree")
    generate(root, GenerateParams(rows=3_000, days=2, prefixes=2, seed=5))
    with open(os.path.join(root, "_manifest.json")) as fh:
        return root, json.load(fh)


@pytest.fixture
def routes():
    yield
    route_engines()  # back to DuckDB for everything


class _Named(DuckDBEngine):
    def __init__(self, name: str) -> None:
        self.name = name


def test_duckdb_engine_when_checked_then_implements_every_engine_method():
    assert isinstance(DuckDBEngine(), Engine)
    protocol_methods = {n for n in vars(Engine) if not n.startswith("_") and callable(getattr(Engine, n))}
    assert protocol_methods <= {n for n in vars(DuckDBEngine) if not n.startswith("_")}
    assert {"count", "count_summary", "unload", "preview", "sample", "iter_batches"} <= protocol_methods


def test_engine_for_when_no_routes_then_duckdb(tree, routes):
    eng = engine_for(tree[0])
    assert eng.name == "duckdb" and eng is engine_for("s3://bucket/tree")


def test_engine_for_when_root_routed_then_backend_on_segment_boundary(routes):
    register_backend("other", lambda: _Named("other"))
    route_engines(roots={"s3://big/": "other"})
    assert engine_for("s3://big/intent").name == "other"
    assert engine_for("s3://big").name == "other"
    assert engine_for("s3://bigger/intent").name == "duckdb"
    route_engines(default="other", roots={"/data/local": "duckdb"})
    assert engine_for("/data/local/tree").name == "duckdb"
    assert engine_for("/elsewhere").name == "other"


def test_route_engines_when_unknown_backend_then_refused(routes):
    with pytest.raises(ValueError, match="unknown engine backend"):
        route_engines(default="nope")
    assert engine_for("/x").name == "duckdb"


def test_duckdb_engine_when_reading_then_figures_agree_with_manifest(tree, routes):
    root, manifest = tree
    eng = engine_for(root)
    sel = Selection(root)
    assert eng.count(sel) == manifest["total_rows"]
    assert eng.count_partitions(sel, eng.list_partitions(sel)) == {
        k: (n, 0) for k, n in manifest["partitions"].items()
    }
    assert eng.count_summary(sel).records == manifest["total_rows"]
    first = eng.preview(sel, 1)[0]["person_id"]
    blocked = Selection(root, suppression=Suppression(person_ids=[first]))
    kept, removed = eng.count_with_suppressed(blocked)
    assert removed > 0 and kept + removed == manifest["total_rows"]
    buf = io.BytesIO()
    assert eng.unload(blocked, None, "parquet", buf) == kept
    buf.seek(0)
    assert first not in set(pq.read_table(buf, columns=["person_id"])["person_id"].to_pylist())
    assert sum(b.num_rows for b in eng.iter_batches(blocked)) == kept


def test_engines_configure_when_spark_without_remote_then_refused_at_start(settings, routes):
    from django.core.exceptions import ImproperlyConfigured

    from audiences import datasets

    settings.DELIVR_ENGINE, settings.DELIVR_SPARK_REMOTE = "spark", ""
    with pytest.raises(ImproperlyConfigured, match="DELIVR_SPARK_REMOTE"):
        datasets.engines_configure()


def test_engines_configure_when_a_root_maps_to_spark_then_only_that_root_reads_there(settings, routes, tree):
    from audiences import datasets
    from audiences.engine.spark import SparkEngine

    settings.DELIVR_ENGINE, settings.DELIVR_SPARK_REMOTE = "duckdb", "sc://127.0.0.1:1"
    settings.DELIVR_ENGINE_ROOTS = {os.path.dirname(tree[0]): "spark"}
    datasets.engines_configure()

    chosen = engine_for(tree[0])
    assert isinstance(chosen, SparkEngine) and chosen.remote == "sc://127.0.0.1:1" and not chosen.connected
    assert engine_for("/elsewhere/tree").name == "duckdb"
