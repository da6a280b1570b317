"""The import report page: the rows a list import refused, in words, capped with a count, scoped to the org."""

import pytest

from audiences.selectors import lists as list_selectors
from tests.audiences.test_lists import upload

pytestmark = pytest.mark.django_db


def test_list_report_page_when_rows_refused_shows_line_value_and_reason(client, tenant):
    list_id = upload(tenant).json()["id"]
    client.force_login(tenant.user)
    assert f'href="/lists/{list_id}/report/"' in client.get("/lists/").content.decode()
    r = client.get(f"/lists/{list_id}/report/")
    assert r.status_code == 200
    body = r.content.decode()
    assert 'Invalid rows <span class="muted">(3)</span>' in body
    assert (
        '<td class="num">3</td><td class="value">not-an-email</td><td>Not a valid email address</td>' in body
    )
    # the report file neutralises the formula with a quote; the page shows the value as uploaded (escaped)
    assert '<td class="value">=cmd@evil</td>' in body
    assert "No email, person ID or UID2 in the row" in body
    assert '<td class="value">ANN@acme.io</td><td>Same email as line 2, which was imported</td>' in body
    assert '<td class="value">p3</td><td>Same person ID as line 6, which was imported</td>' in body
    assert f'href="/api/v1/lists/{list_id}/reports/invalid"' in body
    assert f'href="/api/v1/lists/{list_id}/reports/duplicates"' in body
    download = client.get(f"/api/v1/lists/{list_id}/reports/invalid")
    assert download.status_code == 200 and b"not-an-email" in b"".join(download.streaming_content)


def test_list_report_when_more_rows_than_shown_caps_with_count(client, tenant):
    rows = "".join(f"bad{i}\n" for i in range(7))
    list_id = upload(tenant, "email\nok@acme.io\n" + rows).json()["id"]
    from audiences.models import ContactList

    report = list_selectors.contact_list_import_report(
        ContactList.objects.get(pk=list_id), "invalid", limit=5
    )
    assert report.total == 7 and [r.line for r in report.rows] == [3, 4, 5, 6, 7]
    client.force_login(tenant.user)
    body = client.get(f"/lists/{list_id}/report/").content.decode()
    assert "No duplicate rows." in body and "Showing the first" not in body


def test_list_report_when_other_org_or_support_is_refused(client, tenant, other_tenant, tenant_factory):
    list_id = upload(tenant).json()["id"]
    client.force_login(other_tenant.user)
    assert client.get(f"/lists/{list_id}/report/").status_code == 404
    support = tenant_factory("support")
    client.force_login(support.user)
    assert client.get(f"/lists/{list_id}/report/").status_code == 403
