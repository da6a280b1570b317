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


def _failed_build(tenant, corrupt_dataset):
    from audiences.services.audiences import audience_build
    from tests.factories import AudienceFactory

    audience = AudienceFactory(
        organization=tenant.org, project=tenant.project, definition={"lookback_days": 3}
    )
    audience_build(audience_id=audience.pk)
    audience.refresh_from_db()
    return audience


def test_audience_build_when_data_unreadable_stores_words_and_keeps_raw_for_support(
    client, tenant, corrupt_dataset
):
    from accounts.models import Role
    from tests.factories import MembershipFactory

    audience = _failed_build(tenant, corrupt_dataset)
    assert audience.build_status == "failed"
    assert audience.build_error.startswith("The audience could not be counted: part of the data could not be")
    assert "parquet" not in audience.build_error.lower() and "magic" not in audience.build_error.lower()
    assert "part-0.parquet" in audience.build_error_detail  # the engine's message, for support
    marketer = MembershipFactory(organization=tenant.org, role=Role.MARKETER)
    client.force_login(marketer.user)
    html = client.get(f"/audiences/{audience.pk}/").content.decode()
    assert 'id="build-error"' in html and "could not be counted" in html
    assert 'id="build-error-detail"' not in html and "part-0.parquet" not in html
    support = MembershipFactory(organization=tenant.org, role=Role.SUPPORT)
    client.force_login(support.user)
    html = client.get(f"/audiences/{audience.pk}/").content.decode()
    assert 'id="build-error-detail"' in html and "part-0.parquet" in html
    r = tenant.key().get(f"/api/v1/audiences/{audience.pk}")
    assert r.json()["build_error"] == audience.build_error


def test_build_error_words_when_engine_or_definition_fails_speak_without_library_text():
    from audiences import engine
    from audiences.wording import BUILD_FAILED, build_error_words
    from delivr_admin.errors import ApplicationError

    raw = 'Binder Error: Referenced column "countryy" not found in FROM clause!'
    assert build_error_words(engine.EngineError(raw)) == BUILD_FAILED
    bad_window = ApplicationError(
        "definition.lookback_days: must be at most 366",
        code="invalid_definition",
        extra={"field": "lookback_days"},
    )
    words = build_error_words(bad_window)
    assert (
        words
        == "The audience's definition needs a fix before it can be counted: enter a number of days from 1 to 366."
    )
