import csv
import io
from datetime import UTC, datetime

import pytest

from privacy import services
from privacy.models import AuditEvent, OptOut

pytestmark = pytest.mark.django_db


def seed(tenant, other_tenant):
    for i in range(30):
        services.optout_record(
            identifier_type="uid2",
            value=f"uid-{i:02d}",
            source="uid2_webhook",
            opted_out_at=datetime(2026, 3, 1 + i % 28, tzinfo=UTC),
            actor="uid2_operator",
        )
    services.optout_record(
        identifier_type="email",
        value="=HYPERLINK(evil)@example.com",
        source="support",
        opted_out_at=datetime(2026, 3, 2, tzinfo=UTC),
        organization=tenant.org,
        actor="user:s@example.com",
    )
    services.optout_record(
        identifier_type="email",
        value="secret@other.com",
        source="support",
        opted_out_at=datetime(2026, 3, 2, tzinfo=UTC),
        organization=other_tenant.org,
        actor="user:o@example.com",
    )


@pytest.fixture
def support(tenant_factory):
    return tenant_factory(role="support")


def test_registry_when_marketer_is_forbidden(client, tenant_factory):
    marketer = tenant_factory(role="marketer")
    client.force_login(marketer.user)
    assert client.get("/privacy/").status_code == 403
    assert client.get("/privacy/audit-log.csv").status_code == 403


def test_registry_shows_nav_entry_and_paginates(client, support, other_tenant):
    seed(support, other_tenant)
    client.force_login(support.user)
    r = client.get("/privacy/")
    assert r.status_code == 200
    body = r.content.decode()
    assert 'href="/privacy/"' in body and "Page 1 of 2" in body
    assert "secret@other.com" not in body
    r = client.get("/privacy/?log_page=2")
    assert "Page 2 of 2" in r.content.decode()


def test_registry_search_htmx_returns_only_results_partial(client, support, other_tenant):
    seed(support, other_tenant)
    client.force_login(support.user)
    r = client.get("/privacy/", {"q": "uid-1", "match": "prefix"}, HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body and 'id="results"' in body
    assert "uid-10" in body and "uid-19" in body and "uid-20" not in body
    r = client.get("/privacy/", {"q": "uid-1"}, HTTP_HX_REQUEST="true")
    assert "uid-10" not in r.content.decode()


def test_registry_search_by_date_range_and_source(client, support, other_tenant):
    seed(support, other_tenant)
    client.force_login(support.user)
    r = client.get(
        "/privacy/", {"date_from": "2026-03-02", "date_to": "2026-03-02", "source": "uid2_webhook"}
    )
    body = r.content.decode()
    assert "uid-01" in body and "uid-29" in body and "uid-02" not in body
    r = client.get("/privacy/", {"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert r.status_code == 200 and "start date is after" in r.content.decode()


def test_audit_export_streams_filtered_csv_and_neutralises_formulas(client, support, other_tenant):
    seed(support, other_tenant)
    client.force_login(support.user)
    r = client.get("/privacy/audit-log.csv", {"source": "support"})
    assert r.status_code == 200 and r.streaming
    assert r["Content-Type"].startswith("text/csv") and "attachment" in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert [row["identifier_value"] for row in rows] == ["'=hyperlink(evil)@example.com"]
    assert rows[0]["actor"] == "user:s@example.com" and rows[0]["action"] == "optout.created"
    r = client.get("/privacy/audit-log.csv")
    assert len(list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))) == 1 + 31


def test_identifier_page_shows_events_and_other_org_gets_404(client, support, other_tenant):
    seed(support, other_tenant)
    services.optout_record(
        identifier_type="uid2",
        value="uid-05",
        source="uid2_webhook",
        opted_out_at=datetime.now(UTC),
        actor="x",
    )
    services.suppression_record(
        organization=support.org, output_kind="export_run", output_id="run-7", suppressed_count=3
    )
    client.force_login(support.user)
    r = client.get("/privacy/identifier/", {"type": "uid2", "value": "uid-05"})
    body = r.content.decode()
    assert r.status_code == 200 and "run-7" in body and "Export run <code" in body
    assert body.count('<span class="badge">Opted out</span>') == 1 and "Received again</span>" in body
    assert (
        client.get("/privacy/identifier/", {"type": "email", "value": "secret@other.com"}).status_code == 404
    )
    assert client.get("/privacy/identifier/", {"type": "bogus", "value": "x"}).status_code == 404


def test_support_records_email_optout_with_htmx_event(client, support):
    client.force_login(support.user)
    r = client.post(
        "/privacy/optouts/",
        {"identifier_type": "email", "value": "Person@Example.com"},
        HTTP_HX_REQUEST="true",
        HTTP_USER_AGENT="browser-ua",
    )
    assert r.status_code == 200 and "optoutRecorded" in r["HX-Trigger"]
    assert "<html" not in r.content.decode()
    entry = OptOut.objects.get()
    assert (entry.value, entry.organization_id, entry.source) == (
        "person@example.com",
        support.org.id,
        "support",
    )
    event = AuditEvent.objects.get()
    assert event.actor == f"user:{support.user.email}" and event.user_agent == "browser-ua"
    r = client.post(
        "/privacy/optouts/", {"identifier_type": "email", "value": "nope"}, HTTP_HX_REQUEST="true"
    )
    assert "not valid" in r.content.decode() and OptOut.objects.count() == 1


def test_optout_api_create_and_retrieve_roles(tenant_factory, other_tenant):
    support = tenant_factory(role="support")
    marketer = tenant_factory(role="marketer")
    r = support.jwt().post(
        "/api/v1/privacy/optouts", {"identifier_type": "email", "value": "a@b.co"}, format="json"
    )
    assert r.status_code == 201 and r.json()["organization_id"] == str(support.org.id)
    again = support.jwt().post(
        "/api/v1/privacy/optouts", {"identifier_type": "email", "value": "A@B.co"}, format="json"
    )
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert support.jwt().get(f"/api/v1/privacy/optouts/{r.json()['id']}").status_code == 200
    assert other_tenant.jwt().get(f"/api/v1/privacy/optouts/{r.json()['id']}").status_code == 404
    r = marketer.jwt().post(
        "/api/v1/privacy/optouts", {"identifier_type": "email", "value": "c@d.co"}, format="json"
    )
    assert r.status_code == 403
    r = support.key().post("/api/v1/privacy/optouts", {"identifier_type": "email", "value": 5}, format="json")
    assert r.status_code == 400


def test_registry_search_with_nul_byte_shows_nothing_instead_of_error(client, support):
    client.force_login(support.user)
    r = client.get("/privacy/", {"q": "a\x00b"})
    assert r.status_code == 200 and "No audit event matches" in r.content.decode()
    assert client.get("/privacy/audit-log.csv", {"q": "a\x00b"}).status_code == 200


def test_identifier_page_when_query_missing_or_email_spaced_reads_it_through_the_form(client, support):
    services.optout_record(
        identifier_type="email",
        value="ann@acme.io",
        source="support",
        opted_out_at=datetime.now(UTC),
        actor="x",
        organization=support.org,
    )
    client.force_login(support.user)
    assert client.get("/privacy/identifier/").status_code == 404  # no type: not a page
    assert client.get("/privacy/identifier/", {"type": "email"}).status_code == 404  # no value
    r = client.get("/privacy/identifier/", {"type": "email", "value": "  Ann@Acme.io "})
    assert r.status_code == 200 and "ann@acme.io" in r.content.decode()
