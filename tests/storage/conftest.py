"""Fixtures of the output-store tests: a moto S3 server (shared with the engine's remote tests) and Django
pointed at it, with a small intent dataset for exports, lists and tasks."""

import uuid
from pathlib import Path

import pytest

from audiences.engine.generator import GenerateParams, generate
from tests.s3server import moto_s3

BUCKET = "delivr-outputs"
PARAMS = GenerateParams(rows=3000, days=2, prefixes=2, seed=7, start_day="2024-05-01", first_prefix=100)


@pytest.fixture(scope="session")
def store_intent_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("storedata") / "intent"
    generate(str(root), PARAMS)
    return root


@pytest.fixture(scope="module")
def s3_server():
    with moto_s3((BUCKET,)) as server:
        server.require_auth()  # every request from here on is signed with the reader's key, as on AWS
        yield server


@pytest.fixture(autouse=True)
def data_settings(settings, store_intent_root, tmp_path):
    settings.DELIVR_DEMO_DATA = store_intent_root
    settings.DELIVR_DATA_ROOTS = [str(store_intent_root.parent)]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DELIVR_OUTPUT_URL = ""
    return settings


def point_at(settings, server, scheme: str = "s3") -> str:
    """Outputs go to a fresh prefix of the moto bucket (s3:// or gs:// through the S3 API); returns its URL."""
    from audiences import datasets

    url = f"{scheme}://{BUCKET}/t-{uuid.uuid4().hex[:8]}"
    settings.DELIVR_OUTPUT_URL = url
    settings.DELIVR_STORAGE_OPTIONS = server.storage_options()
    datasets._configured.cache_clear()  # the engine reads list rows in place with the same credentials
    return url


@pytest.fixture
def s3_outputs(settings, s3_server):
    """Outputs in the moto bucket: (server, s3:// URL of this test's prefix)."""
    from audiences import datasets
    from audiences.engine import configure

    url = point_at(settings, s3_server)
    yield s3_server, url
    datasets._configured.cache_clear()
    configure(storage_options={})
