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


def test_list_report_selector_when_paged_reads_that_page_and_clamps_past_the_end(tenant):
    rows = "".join(f"bad{i}\n" for i in range(7))
    list_id = upload(tenant, "email\nok@acme.io\n" + rows).json()["id"]
    from audiences.models import ContactList

    contact_list = ContactList.objects.get(pk=list_id)
    first = list_selectors.contact_list_import_report(contact_list, "invalid", limit=5)
    assert first.total == 7 and first.pages == 2 and [r.line for r in first.rows] == [3, 4, 5, 6, 7]
    second = list_selectors.contact_list_import_report(contact_list, "invalid", page=2, limit=5)
    assert [r.line for r in second.rows] == [8, 9] and (second.first, second.last) == (6, 7)
    assert not second.has_next and second.has_previous
    past = list_selectors.contact_list_import_report(contact_list, "invalid", page=99, limit=5)
    assert past.page == 2 and [r.line for r in past.rows] == [8, 9]


def test_list_report_page_when_over_a_page_of_rows_pages_them_with_constant_queries(
    client, tenant, django_assert_num_queries
):
    rows = "".join(f"bad{i}\n" for i in range(205))
    list_id = upload(tenant, "email\nok@acme.io\n" + rows).json()["id"]
    client.force_login(tenant.user)
    client.get(f"/lists/{list_id}/report/")  # the session and the user's organizations are cached from here
    with django_assert_num_queries(5) as first:  # auth, principal, nav, the list: none per row
        body = client.get(f"/lists/{list_id}/report/").content.decode()
    assert "Rows 1–100 of 205" in body and "Page 1 of 3" in body and "No duplicate rows." in body
    assert "bad99" in body and "bad100" not in body and 'rel="prev"' not in body
    assert 'href="?invalid_page=2&amp;duplicates_page=1"' in body
    with django_assert_num_queries(len(first.captured_queries)):
        body = client.get(f"/lists/{list_id}/report/?invalid_page=3").content.decode()
    assert "Rows 201–205 of 205" in body and "bad204" in body and "bad199" not in body
    assert 'rel="next"' not in body and 'href="?invalid_page=2&amp;duplicates_page=1"' in body
    part = client.get(
        f"/lists/{list_id}/report/?invalid_page=2&kind=invalid", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert part.lstrip().startswith('<section class="card" id="report-invalid"') and "<html" not in part
    assert "Rows 101–200 of 205" in part and "bad100" in part and "report-duplicates" not in part
    assert client.get(f"/lists/{list_id}/report/?invalid_page=x").status_code == 200


def test_list_report_when_other_org_or_support_is_refused(client, tenant, other_tenant, tenant_factory):
    list_id = upload(tenant).json()["id"]
    client.force_login(other_tenant.user)
    assert client.get(f"/lists/{list_id}/report/").status_code == 404
    support = tenant_factory("support")
    client.force_login(support.user)
    assert client.get(f"/lists/{list_id}/report/").status_code == 403


def test_list_report_when_query_odd_shows_first_pages_and_unknown_kind_renders_the_page(client, tenant):
    list_id = upload(tenant, "email\nok@acme.io\n" + "".join(f"bad{i}\n" for i in range(105))).json()["id"]
    client.force_login(tenant.user)
    for query in ("invalid_page=-3", "invalid_page=x&duplicates_page=", "invalid_page=1e3"):
        r = client.get(f"/lists/{list_id}/report/?{query}")
        assert r.status_code == 200 and "Rows 1–100 of 105" in r.content.decode(), query
    r = client.get(f"/lists/{list_id}/report/?kind=other&invalid_page=2", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "report-invalid" in html and "report-duplicates" in html
    assert "Rows 101–105 of 105" in html
