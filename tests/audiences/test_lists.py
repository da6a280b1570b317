import csv
import io
import uuid

import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from audiences.models import Audience, ContactList, ListSource, ListStatus, ListType
from audiences.services import lists as list_services

pytestmark = pytest.mark.django_db

CSV = (
    "Email,First_Name,LAST NAME,Person_ID,company_domain,ignored\n"
    "ann@acme.io,Ann,Lee,p1,acme.io,x\n"
    "not-an-email,Bob,Ray,p2,acme.io,x\n"
    "ANN@acme.io,Ann,Again,p9,acme.io,x\n"
    "\n"
    "cy@beta.io,Cy,Dow,p3,beta.io,x\n"
    ",,,,,x\n"
    "=cmd@evil,Eve,Formula,p4,evil.io,x\n"
    "dee@beta.io,Dee,Moe,p3,beta.io,x\n"
)


def upload(tenant, content=CSV, *, name="Q3 leads", type="contacts", content_type="text/csv", client=None):
    f = SimpleUploadedFile(
        "leads.csv", content.encode() if isinstance(content, str) else content, content_type
    )
    client = client or tenant.key()
    return client.post(
        "/api/v1/lists",
        {"file": f, "name": name, "type": type, "project_id": str(tenant.project.id)},
        format="multipart",
    )


def report(tenant, body, kind) -> list[list[str]]:
    r = tenant.key().get(body[f"{kind}_report_url"].replace("http://testserver", ""))
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))


def test_list_upload_imports_valid_rows_and_reports_invalid_and_duplicates(tenant):
    r = upload(tenant)
    assert r.status_code == 202, r.content
    body = tenant.key().get(f"/api/v1/lists/{r.json()['id']}").json()
    assert body["status"] == "ready" and body["source"] == "api"
    assert (body["row_count"], body["imported_count"], body["invalid_count"], body["duplicate_count"]) == (
        7,
        2,
        3,
        2,
    )
    invalid = report(tenant, body, "invalid")
    assert invalid[0][:3] == ["line", "reason", "Email"]
    assert [(row[0], row[1]) for row in invalid[1:]] == [
        ("3", "invalid email"),
        ("7", "no identifier (email, person_id or uid2)"),
        ("8", "invalid email"),
    ]
    assert invalid[3][2] == "'=cmd@evil"  # formula neutralised in the report
    duplicates = report(tenant, body, "duplicates")
    assert [(row[0], row[1], row[2]) for row in duplicates[1:]] == [
        ("4", "2", "email"),
        ("9", "6", "person_id"),
    ]
    contact_list = ContactList.objects.get(pk=body["id"])
    table = pq.read_table(default_storage.path(contact_list.file_name))
    assert table.column("email").to_pylist() == ["ann@acme.io", "cy@beta.io"]
    assert table.column("last_name").to_pylist() == ["Lee", "Dow"]  # "LAST NAME" header matched
    assert "ignored" not in table.column_names


def test_list_import_when_run_twice_changes_nothing(tenant):
    list_id = upload(tenant).json()["id"]
    before = ContactList.objects.filter(pk=list_id).values().get()
    list_services.contact_list_import(list_id=list_id)
    assert ContactList.objects.filter(pk=list_id).values().get() == before


def test_list_upload_when_no_identifier_column_fails_with_error(tenant):
    body = upload(tenant, "name,city\nA,B\n").json()
    body = tenant.key().get(f"/api/v1/lists/{body['id']}").json()
    assert body["status"] == "failed" and "email, person_id or uid2" in body["error"]


def test_list_upload_when_too_large_returns_413(tenant, settings):
    settings.DELIVR_MAX_UPLOAD_BYTES = 100
    r = upload(tenant, "email\n" + "a@b.io\n" * 50)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert not ContactList.objects.exists()


@pytest.mark.parametrize(
    "content,content_type",
    [
        ("email\na@b.io\n", "image/png"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "text/csv"),
        (b"\xff\xfe\xfa", "text/csv"),
    ],
)
def test_list_upload_when_not_csv_returns_415(tenant, content, content_type):
    r = upload(tenant, content, content_type=content_type)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"


def test_list_upload_when_fields_missing_returns_400(tenant, other_tenant):
    r = tenant.key().post(
        "/api/v1/lists", {"name": "x", "project_id": str(tenant.project.id)}, format="multipart"
    )
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("file")
    f = SimpleUploadedFile("a.csv", b"email\na@b.io\n", "text/csv")
    r = tenant.key().post("/api/v1/lists", {"file": f, "name": "x"}, format="multipart")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("project_id")
    f = SimpleUploadedFile("a.csv", b"email\na@b.io\n", "text/csv")
    r = tenant.key().post(
        "/api/v1/lists",
        {"file": f, "name": "x", "project_id": str(other_tenant.project.id)},
        format="multipart",
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_project"
    r = upload(tenant, type="bogus")
    assert r.status_code == 400
    r = tenant.key().post("/api/v1/lists", {"name": "x"}, format="json")
    assert r.status_code == 415


def test_suppression_list_upload_records_optouts_and_audiences_leave_them_out(tenant, intent_root):
    import pyarrow.dataset as ds

    from privacy.models import OptOut

    table = ds.dataset(str(intent_root / "day=2024-05-04"), format="parquet", partitioning="hive").to_table()
    first = table.slice(0, 3).to_pylist()
    content = "EMAIL,uid2\n" + "".join(f"{r['email']},{r['uid2']}\n" for r in first)
    body = upload(tenant, content, type="suppression").json()
    body = tenant.key().get(f"/api/v1/lists/{body['id']}").json()
    assert body["status"] == "ready" and body["imported_count"] == 3
    entries = OptOut.objects.filter(organization=tenant.org, source="list_upload")
    assert (
        entries.filter(identifier_type="email").count() == 3
        and entries.filter(identifier_type="uid2").count() == 3
    )
    r = tenant.key().post(
        "/api/v1/audiences",
        {"project_id": str(tenant.project.id), "name": "All", "definition": {"lookback_days": 1}},
        format="json",
    )
    audience = Audience.objects.get(pk=r.json()["id"])
    assert audience.suppressed_count >= 3
    download = tenant.key().get(f"/audiences/{audience.pk}/download?project_id={tenant.project.id}")
    emails = {
        row["email"] for row in csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode()))
    }
    assert not emails & {r["email"] for r in first}


def test_list_audience_from_uploaded_list_counts_its_rows(tenant):
    list_id = upload(tenant).json()["id"]
    r = tenant.key().post(
        "/api/v1/audiences",
        {"project_id": str(tenant.project.id), "name": "Leads", "contact_list_id": list_id},
        format="json",
    )
    assert r.status_code == 201 and r.json()["type"] == "list"
    got = tenant.key().get(f"/api/v1/audiences/{r.json()['id']}").json()
    assert got["record_count"] == 2 and got["distinct_profile_count"] == 2
    # the list backs an audience: it cannot be deleted under it
    assert tenant.key().delete(f"/api/v1/lists/{list_id}").status_code == 409
    suppression_id = upload(tenant, type="suppression").json()["id"]
    r = tenant.key().post(
        "/api/v1/audiences",
        {"project_id": str(tenant.project.id), "name": "No", "contact_list_id": suppression_id},
        format="json",
    )
    assert r.status_code == 400


def make_lists(tenant, n, **fields):
    return [
        ContactList.objects.create(organization=tenant.org, project=tenant.project, name=f"L{i}", **fields)
        for i in range(n)
    ]


def test_list_listing_filters_and_paging_bounds(tenant, other_tenant):
    make_lists(tenant, 3, type=ListType.CONTACTS, source=ListSource.UPLOAD)
    make_lists(tenant, 2, type=ListType.SUPPRESSION, source=ListSource.API)
    make_lists(tenant, 1, type=ListType.CONTACTS, source=ListSource.EXPORT, status=ListStatus.READY)
    make_lists(other_tenant, 4)
    client = tenant.jwt()
    assert client.get("/api/v1/lists").json()["total"] == 6
    assert client.get("/api/v1/lists?type=suppression").json()["total"] == 2
    assert client.get("/api/v1/lists?source=export").json()["total"] == 1
    assert client.get("/api/v1/lists?type=contacts&source=upload").json()["total"] == 3
    page = client.get("/api/v1/lists?limit=2&offset=4").json()
    assert page["limit"] == 2 and len(page["lists"]) == 2
    assert client.get("/api/v1/lists").json()["limit"] == 25
    assert client.get("/api/v1/lists?limit=1000").status_code == 200
    for query in ("limit=0", "limit=1001", "offset=-1", "type=nope", "source=nope", "limit=x"):
        assert client.get(f"/api/v1/lists?{query}").status_code == 400, query


def test_list_batch_delete_bounds_and_counts_only_own_lists(tenant, other_tenant):
    mine = make_lists(tenant, 3)
    theirs = make_lists(other_tenant, 2)
    url = "/api/v1/lists/batch"
    assert tenant.key().delete(url, {"ids": []}, format="json").status_code == 400
    too_many = [str(uuid.uuid4()) for _ in range(1001)]
    assert tenant.key().delete(url, {"ids": too_many}, format="json").status_code == 400
    assert tenant.key().delete(url, {"ids": ["nope"]}, format="json").status_code == 400
    assert tenant.key().delete(url, {"ids": [1]}, format="json").status_code == 400
    assert tenant.key().delete(url, {}, format="json").status_code == 400
    ids = [str(c.pk) for c in mine[:2]] + [str(c.pk) for c in theirs] + [str(uuid.uuid4())]
    r = tenant.key().delete(url, {"ids": ids}, format="json")
    assert r.status_code == 200 and r.json()["deleted_count"] == 2
    assert ContactList.objects.filter(organization=other_tenant.org).count() == 2
    assert list(ContactList.objects.filter(organization=tenant.org)) == [mine[2]]
    exactly_max = [str(mine[2].pk)] + [str(uuid.uuid4()) for _ in range(999)]
    assert tenant.key().delete(url, {"ids": exactly_max}, format="json").json()["deleted_count"] == 1


def test_list_report_when_none_or_other_org_is_404(tenant, other_tenant):
    body = upload(tenant, "email\nok@fine.io\n").json()
    body = tenant.key().get(f"/api/v1/lists/{body['id']}").json()
    assert body["invalid_report_url"] is None and body["duplicates_report_url"] is None
    assert tenant.key().get(f"/api/v1/lists/{body['id']}/reports/invalid").status_code == 404
    assert tenant.key().get(f"/api/v1/lists/{body['id']}/reports/other").status_code == 404
    messy = upload(tenant).json()
    assert other_tenant.key().get(f"/api/v1/lists/{messy['id']}/reports/invalid").status_code == 404
    assert other_tenant.key().get(f"/api/v1/lists/{messy['id']}").status_code == 404


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_list_upload_when_semicolon_or_tab_separated_sniffs_the_delimiter(tenant, delimiter):
    content = CSV.replace(",", delimiter).replace("\n,,,,,x", "\n" + delimiter * 5 + "x")
    r = upload(tenant, content)
    assert r.status_code == 202, r.content
    body = tenant.key().get(f"/api/v1/lists/{r.json()['id']}").json()
    assert body["status"] == "ready"
    assert (body["row_count"], body["imported_count"], body["invalid_count"], body["duplicate_count"]) == (
        7,
        2,
        3,
        2,
    )
    contact_list = ContactList.objects.get(pk=body["id"])
    table = pq.read_table(default_storage.path(contact_list.file_name))
    assert table.column("last_name").to_pylist() == ["Lee", "Dow"]


def test_lists_page_says_which_separators_an_upload_may_use(client, tenant):
    client.force_login(tenant.user)
    body = client.get("/lists/").content.decode()
    assert "separated by commas, semicolons or tabs" in body


def test_list_upload_when_one_column_without_delimiter_reads_it(tenant):
    r = upload(tenant, "email\nann@acme.io\nbob@acme.io\n")
    body = tenant.key().get(f"/api/v1/lists/{r.json()['id']}").json()
    assert (body["status"], body["imported_count"]) == ("ready", 2)


def test_lists_page_when_imported_summarises_the_report_and_failed_uploads_can_be_dismissed(client, tenant):
    ready = upload(tenant).json()["id"]
    failed = upload(tenant, "name\nAnn\n", name="No identifiers").json()["id"]
    assert ContactList.objects.get(pk=failed).status == ListStatus.FAILED
    client.force_login(tenant.user)
    body = client.get("/lists/").content.decode()
    assert "2 of 7 rows imported; 3 invalid (<a href=" in body and "2 duplicates left out (<a href=" in body
    assert f"/api/v1/lists/{ready}/reports/invalid" in body
    assert ">Dismiss</button>" in body and "Dismiss the failed upload No identifiers?" in body
    r = client.post(f"/lists/{failed}/delete/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and not ContactList.objects.filter(pk=failed).exists()


def test_contact_list_check_can_back_when_checked_then_reads_no_row_and_refuses_unready_lists(
    django_assert_num_queries,
):
    from audiences.services.audiences import contact_list_check_can_back
    from delivr_admin.errors import ApplicationError
    from tests.factories import ContactListFactory

    ready = ContactListFactory()
    importing = ContactListFactory(status=ListStatus.PROCESSING)
    with django_assert_num_queries(0):  # a check of the list it is given: no transaction, no query
        contact_list_check_can_back(ready)
        with pytest.raises(ApplicationError, match="Only a ready contacts list can back an audience."):
            contact_list_check_can_back(importing)
