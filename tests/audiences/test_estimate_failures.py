"""A live estimate on data that cannot be read says so in words (never a 500, never a library message)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def corrupt_dataset(settings, tmp_path):
    root = tmp_path / "intent"
    part = root / "day=2024-05-01" / "prefix=4eyes_100" / "score=high"
    part.mkdir(parents=True)
    (part / "part-0.parquet").write_bytes(b"PAR1 not really parquet")
    settings.DELIVR_DEMO_DATA = root
    settings.DELIVR_DATA_ROOTS = [str(tmp_path)]
    return root


def test_builder_estimate_when_data_unreadable_says_so_in_words(client, tenant, corrupt_dataset):
    client.force_login(tenant.user)
    form = {"window": "lookback", "lookback_days": "3", "topic_id_prefixes": ["4eyes_100"]}
    r = client.post("/audiences/builder/estimate/", form, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "HX-Trigger" not in r
    assert "Part of the data could not be read" in html  # the admin also sees which file (issue 11)
    assert "day=2024-05-01/prefix=4eyes_100/score=high/part-0.parquet" in html
    assert "magic bytes" not in html and str(corrupt_dataset) not in html
    assert 'id="preview-blocked"' in html and "No rows match" not in html


def test_builder_page_when_data_unreadable_still_opens(client, tenant, corrupt_dataset):
    client.force_login(tenant.user)
    r = client.get("/audiences/new/")
    assert r.status_code == 200 and 'id="topic-search"' in r.content.decode()


def test_builder_preview_when_data_unreadable_says_so_in_words(client, tenant, corrupt_dataset):
    client.force_login(tenant.user)
    form = {"window": "lookback", "lookback_days": "3"}
    r = client.post("/audiences/builder/preview/", form, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "could not be read" in html and "No rows match" not in html
