import json
from pathlib import Path

import pytest

from audiences.engine.generator import GenerateParams, generate

TEST_PARAMS = GenerateParams(
    rows=30_000, days=4, prefixes=4, seed=11, start_day="2024-05-01", first_prefix=100
)


@pytest.fixture(scope="session")
def intent_root(tmp_path_factory) -> Path:
    """A small deterministic intent tree (4 days x 4 prefixes x 3 scores) shared by the session."""
    root = tmp_path_factory.mktemp("data") / "intent"
    generate(str(root), TEST_PARAMS)
    return root


@pytest.fixture
def manifest(intent_root) -> dict:
    return json.loads((intent_root / "_manifest.json").read_text())


@pytest.fixture(autouse=True)
def intent_settings(settings, intent_root, tmp_path):
    """Points the default dataset and the allowed roots at the test tree; outputs go to a temp media root."""
    settings.DELIVR_DEMO_DATA = intent_root
    settings.DELIVR_DATA_ROOTS = [str(intent_root.parent)]
    settings.MEDIA_ROOT = tmp_path / "media"  # FileSystemStorage follows the setting_changed signal
    return settings
