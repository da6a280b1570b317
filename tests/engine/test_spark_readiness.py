"""/readyz checks the Spark engine when the deployment reads a dataset root on it."""

import os

import pytest

from audiences import datasets, engine
from audiences.engine.generator import GenerateParams, generate

REMOTE = os.environ.get("DELIVR_SPARK_REMOTE", "")


@pytest.fixture
def spark_root(settings, tmp_path):
    root = tmp_path / "data" / "intent"
    generate(str(root), GenerateParams(rows=200, days=1, prefixes=1, seed=3))
    settings.DELIVR_DATA_ROOTS = [str(root.parent)]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DELIVR_ENGINE_ROOTS = {str(root): "spark"}
    yield root
    engine.route_engines()


@pytest.mark.django_db
def test_readyz_when_spark_routed_and_down_then_503_naming_spark(client, settings, spark_root):
    settings.DELIVR_SPARK_REMOTE = "sc://127.0.0.1:1"
    datasets.engines_configure()

    body = client.get("/readyz").json()

    assert body["checks"]["engine"]["ok"] is False
    assert "Spark engine at sc://127.0.0.1:1 cannot be reached" in body["checks"]["engine"]["message"]
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
@pytest.mark.spark
@pytest.mark.skipif(not REMOTE, reason="DELIVR_SPARK_REMOTE is not set (start Spark with bin/spark start)")
def test_readyz_when_spark_routed_and_up_then_ready(client, settings, spark_root):
    settings.DELIVR_SPARK_REMOTE = REMOTE
    datasets.engines_configure()

    response = client.get("/readyz")

    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["engine"]["ok"] is True
