"""The topic catalogue page (org admins): list global + own topics, edit an override, reset it, import a CSV
with the command's service; other organizations' entries never show; who changed an entry is recorded."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audiences.models import Topic
from audiences.selectors.topics import topic_catalogue
from audiences.services.topics import topic_import

pytestmark = pytest.mark.django_db

GLOBAL = "code,name,category,description\n4eyes_100,CRM Software,Sales,CRM\n4eyes_101,Marketing Automation,Marketing,\n"


@pytest.fixture
def catalogue(other_tenant):
    topic_import(content=GLOBAL.encode())
    topic_import(content=b"code,name\n4eyes_100,Secret Other Name\n", organization=other_tenant.org)


def test_topic_page_lists_global_and_own_topics_but_not_other_orgs(client, tenant, catalogue):
    topic_import(
        content=b"code,name,category\n4eyes_101,Automation Suites,Ops\n9x_1,Own Only,\n",
        organization=tenant.org,
    )
    client.force_login(tenant.user)
    body = client.get("/audiences/topics/").content.decode()
    assert "CRM Software" in body and "Secret Other Name" not in body
    assert "Automation Suites" in body and "Your name (global: Marketing Automation)" in body
    assert "Own Only" in body and "Yours only" in body
    assert 'href="/audiences/topics/"' in client.get("/audiences/").content.decode()


def test_topic_edit_when_saved_overrides_for_the_org_only_and_records_who(
    client, tenant, other_tenant, catalogue
):
    client.force_login(tenant.user)
    assert client.get("/audiences/topics/4eyes_101/").status_code == 200
    r = client.post(
        "/audiences/topics/4eyes_101/", {"name": " Marketing Ops ", "category": "Ops", "description": "Tools"}
    )
    assert r.status_code == 302 and r["Location"] == "/audiences/topics/"
    own = Topic.objects.get(organization=tenant.org, code="4eyes_101")
    assert (own.name, own.category, own.description) == ("Marketing Ops", "Ops", "Tools")
    assert own.updated_by == f"user:{tenant.user.email}"
    assert topic_catalogue(tenant.org.id)["4eyes_101"].name == "Marketing Ops"
    assert topic_catalogue(other_tenant.org.id)["4eyes_101"].name == "Marketing Automation"
    body = client.get("/audiences/topics/").content.decode()
    assert f"by {tenant.user.email}" in body


def test_topic_edit_when_name_empty_says_so_next_to_the_field(client, tenant, catalogue):
    client.force_login(tenant.user)
    r = client.post("/audiences/topics/4eyes_100/", {"name": "  ", "category": "x"})
    body = r.content.decode()
    assert r.status_code == 400 and "Give the topic a name." in body and 'aria-invalid="true"' in body
    assert not Topic.objects.filter(organization=tenant.org).exists()


def test_topic_reset_when_overridden_uses_the_global_name_again(client, tenant, other_tenant, catalogue):
    topic_import(content=b"code,name\n4eyes_100,Our CRM\n", organization=tenant.org)
    client.force_login(tenant.user)
    r = client.post("/audiences/topics/4eyes_100/reset/")
    assert r.status_code == 302
    assert topic_catalogue(tenant.org.id)["4eyes_100"].name == "CRM Software"
    assert Topic.objects.filter(organization=other_tenant.org, code="4eyes_100").exists()  # theirs stays


def test_topic_import_page_imports_for_the_org_and_reports_bad_rows(client, tenant, catalogue):
    client.force_login(tenant.user)
    upload = SimpleUploadedFile("t.csv", b"code,name\n4eyes_100,Our CRM\n4eyes_102,\n", "text/csv")
    r = client.post("/audiences/topics/", {"file": upload}, HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body
    assert (
        "1 created, 0 updated, 0 unchanged, 1 row skipped" in body
        and "Line 3: topic 4eyes_102 has no name." in body
    )
    assert (
        Topic.objects.get(organization=tenant.org, code="4eyes_100").updated_by == f"user:{tenant.user.email}"
    )
    assert Topic.objects.get(organization__isnull=True, code="4eyes_100").name == "CRM Software"
    r = client.post("/audiences/topics/", {"file": SimpleUploadedFile("t.csv", b"nope\n1\n", "text/csv")})
    assert r.status_code == 400 and "columns code and name" in r.content.decode()


@pytest.mark.parametrize("role", ["marketer", "support"])
def test_topic_pages_when_not_admin_are_forbidden(client, tenant_factory, catalogue, role):
    member = tenant_factory(role=role)
    client.force_login(member.user)
    assert client.get("/audiences/topics/").status_code == 403
    assert client.post("/audiences/topics/4eyes_100/", {"name": "x"}).status_code == 403
    assert not Topic.objects.filter(organization=member.org).exists()


def test_topic_edit_when_code_unknown_is_404(client, tenant, catalogue):
    client.force_login(tenant.user)
    assert client.get("/audiences/topics/nope_1/").status_code == 404
    assert client.post("/audiences/topics/nope_1/reset/").status_code == 404


def test_topic_edit_when_saved_the_builder_shows_the_org_name(client, tenant, other_tenant):
    code = "4eyes_100"  # a prefix of the test tree
    topic_import(content=f"code,name\n{code},Global Name\n".encode())
    client.force_login(tenant.user)
    client.post(f"/audiences/topics/{code}/", {"name": "Our Own Name", "category": "Ours"})
    assert "Our Own Name" in client.get("/audiences/new/").content.decode()
    client.force_login(other_tenant.user)
    builder = client.get("/audiences/new/").content.decode()
    assert "Global Name" in builder and "Our Own Name" not in builder


def test_topic_edit_form_when_opened_shows_the_org_entry_else_the_global_and_after_an_error_what_was_typed(
    client, tenant, catalogue
):
    client.force_login(tenant.user)
    body = client.get("/audiences/topics/4eyes_100/").content.decode()
    assert 'name="name" required maxlength="200" value="CRM Software"' in body
    assert 'name="category" maxlength="200" value="Sales"' in body and ">CRM</textarea>" in body
    topic_import(content=b"code,name,category\n4eyes_100,Our CRM,Deals\n", organization=tenant.org)
    body = client.get("/audiences/topics/4eyes_100/").content.decode()
    assert 'value="Our CRM"' in body and 'value="Deals"' in body and "></textarea>" in body
    r = client.post("/audiences/topics/4eyes_100/", {"name": "x" * 201, "category": "<b>Kept</b>"})
    body = r.content.decode()
    assert r.status_code == 400 and "The name is longer than 200 characters." in body
    assert f'value="{"x" * 201}"' in body and 'value="&lt;b&gt;Kept&lt;/b&gt;"' in body
    assert "></textarea>" in body  # not posted: empty, not the saved description
