from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from delivr_admin.emails import email_sha256
from delivr_admin.errors import ApplicationError
from privacy import selectors, services
from privacy.filters import AuditEventFilter
from privacy.models import AppendOnlyError, AuditEvent, OptOut, SuppressionRecord
from privacy.services import RequestMeta

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def record(value, identifier_type="uid2", organization=None, source="uid2_webhook", when=WHEN):
    return services.optout_record(
        identifier_type=identifier_type,
        value=value,
        source=source,
        opted_out_at=when,
        organization=organization,
        actor="test",
        request_meta=RequestMeta(ip="10.0.0.1", user_agent="pytest", request_id="req-1"),
    )


def test_optout_record_writes_entry_and_audit_event_with_request_meta(tenant):
    entry, created = record("Jane@Example.com ", "email", tenant.org, "support")
    assert created and entry.value == "jane@example.com" and entry.organization_id == tenant.org.id
    event = AuditEvent.objects.get()
    assert (event.ip, event.user_agent, event.request_id) == ("10.0.0.1", "pytest", "req-1")
    assert event.organization_id == tenant.org.id and event.optout_id == entry.id
    assert event.changes["source"] == {"from": None, "to": "support"}


def test_optout_record_same_value_in_org_and_global_are_two_entries(tenant, other_tenant):
    record("u1")
    record("u1")
    record("u1", organization=tenant.org, source="support")
    record("u1", organization=other_tenant.org, source="support")
    assert OptOut.objects.count() == 3
    assert AuditEvent.objects.count() == 4


@pytest.mark.parametrize(
    "identifier_type,value",
    [("email", "not-an-email"), ("hashed_email", "abc"), ("uid2", " "), ("nope", "x"), ("person_id", "a b")],
)
def test_optout_record_when_identifier_invalid_raises_and_writes_nothing(identifier_type, value):
    with pytest.raises(ApplicationError):
        record(value, identifier_type)
    assert not OptOut.objects.exists() and not AuditEvent.objects.exists()


def test_optout_record_when_audit_fails_registry_row_rolls_back(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(AuditEvent.objects, "create", boom)
    with pytest.raises(RuntimeError):
        record("u-rollback")
    assert not OptOut.objects.exists()


def test_audit_event_orm_update_and_delete_are_refused():
    record("u1")
    event = AuditEvent.objects.get()
    event.action = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError), transaction.atomic():  # bulk_update opens no savepoint of its own
        AuditEvent.objects.bulk_update([event], ["action"])
    assert AuditEvent.objects.get().action == "optout.created"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_audit_event_raw_sql_update_and_delete_fail_on_postgresql():
    from django.db import DatabaseError

    record("u1")
    for sql in ("UPDATE privacy_auditevent SET action = 'x'", "DELETE FROM privacy_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
    assert AuditEvent.objects.get().action == "optout.created"


def test_optout_suppression_returns_global_and_own_org_only(tenant, other_tenant):
    from accounts.models import Organization

    child = Organization.objects.create(name="child", parent=tenant.org)
    record("uid-global")
    record("Jane@Example.com", "email", tenant.org, "support")
    record("p-1", "person_id", tenant.org, "list_upload")
    record(email_sha256("hashed@example.com"), "hashed_email", child, "list_upload")
    record("p-other", "person_id", other_tenant.org, "support")
    record("other@example.com", "email", other_tenant.org, "support")

    s = selectors.optout_suppression(tenant.principal.organization_ids)
    assert set(s.uid2s) == {"uid-global"}
    assert set(s.person_ids) == {"p-1"}
    assert set(s.emails) == {"jane@example.com"}
    assert set(s.email_sha256) == {email_sha256("hashed@example.com")}  # plain emails stay plain
    assert "jane@example.com" in s.emails

    s_other = selectors.optout_suppression([other_tenant.org.id])
    assert set(s_other.uid2s) == {"uid-global"}
    assert set(s_other.person_ids) == {"p-other"} and set(s_other.emails) == {"other@example.com"}

    s_child = selectors.optout_suppression([child.id])
    assert not s_child.person_ids and not s_child.emails


def test_suppression_record_when_run_retried_keeps_one_row(tenant):
    services.suppression_record(
        organization=tenant.org, output_kind="export_run", output_id="r1", suppressed_count=3
    )
    services.suppression_record(
        organization=tenant.org, output_kind="export_run", output_id="r1", suppressed_count=4
    )
    assert list(SuppressionRecord.objects.values_list("suppressed_count", flat=True)) == [4]


def test_identifier_detail_shows_events_and_suppressions_since_opt_out(tenant, other_tenant):
    record("uid-x", when=WHEN)
    record("uid-x", when=WHEN)
    before = services.suppression_record(
        organization=tenant.org, output_kind="export_run", output_id="old", suppressed_count=5
    )
    SuppressionRecord.objects.filter(pk=before.pk).update(recorded_at=WHEN - timedelta(days=1))
    services.suppression_record(
        organization=tenant.org, output_kind="export_run", output_id="new", suppressed_count=2
    )
    services.suppression_record(
        organization=tenant.org, output_kind="export_run", output_id="zero", suppressed_count=0
    )
    services.suppression_record(
        organization=other_tenant.org, output_kind="export_run", output_id="theirs", suppressed_count=9
    )
    detail = selectors.identifier_detail(tenant.principal, identifier_type="uid2", value="uid-x")
    assert len(detail.entries) == 1 and len(detail.events) == 2
    assert [s.output_id for s in detail.suppressions] == ["new"]


def test_audit_event_list_scoped_to_own_org_and_global(tenant, other_tenant):
    record("uid-g")
    record("mine@example.com", "email", tenant.org, "support")
    record("theirs@example.com", "email", other_tenant.org, "support")
    values = set(selectors.audit_event_list(tenant.principal).values_list("identifier_value", flat=True))
    assert values == {"uid-g", "mine@example.com"}
    events = selectors.audit_event_list(tenant.principal)
    assert AuditEventFilter({"q": "MINE@example.com"}, queryset=events).qs.count() == 1
    assert AuditEventFilter({"q": "uid", "match": "prefix"}, queryset=events).qs.count() == 1
