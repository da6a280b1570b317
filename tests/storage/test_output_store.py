"""The output store (delivr_admin.storage) on a local folder, on S3 and on GCS's S3 API (moto's real server):
writes replace, reads stream, deletes are idempotent, presigned links download with their file name and
expire, and /readyz probes the configured store."""

import os

import pytest
import requests

from delivr_admin import storage
from tests.storage.conftest import BUCKET, point_at


@pytest.fixture(params=["file", "s3", "gs"])
def any_store(request, settings, tmp_path):
    if request.param == "file":
        settings.DELIVR_OUTPUT_URL = (tmp_path / "out folder").as_uri()  # a space: quoted in the URL
        return request.param, None
    server = request.getfixturevalue("s3_server")
    return request.param, point_at(settings, server, request.param)


def test_store_contract_write_replace_read_list_delete(any_store, tmp_path):
    scheme, url = any_store
    name = "tasks/org/t1/day=2024-05-01/part-0.csv"
    assert not storage.exists(name)
    with pytest.raises(FileNotFoundError):
        storage.open_read(name)
    storage.write_bytes(name, b"a,b\n1,2\n")
    storage.write_bytes(name, b"a,b\n3,4\n")  # replaces: one file, the new bytes
    with storage.open_read(name) as fh:
        assert fh.read() == b"a,b\n3,4\n"
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(9 * 1024 * 1024))  # past boto3's multipart threshold
    storage.move_file("tasks/org/t1/big.bin", str(local))
    assert not local.exists()
    storage.read_to("tasks/org/t1/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").stat().st_size == 9 * 1024 * 1024
    rows = storage.write_with("tasks/org/t1/made.txt", lambda p: open(p, "w").write("made") and 7)
    assert rows == 7 and storage.exists("tasks/org/t1/made.txt")
    assert storage.list_folder("tasks/org/t1") == [
        "tasks/org/t1/big.bin",
        "tasks/org/t1/day=2024-05-01/part-0.csv",
        "tasks/org/t1/made.txt",
    ]
    storage.delete(name)
    storage.delete(name)  # idempotent
    assert not storage.exists(name)
    if scheme == "file":
        assert storage.uri(name).startswith("file:///") and "out%20folder" in storage.uri(name)
    else:
        assert storage.uri(name) == f"{url}/{name}" and url.startswith(f"{scheme}://{BUCKET}/")


def test_store_write_with_when_producer_fails_leaves_no_file(any_store):
    def fail(path):
        open(path, "w").write("half")
        raise RuntimeError("engine failed")

    with pytest.raises(RuntimeError):
        storage.write_with("exports/org/e/r.csv", fail)
    assert not storage.exists("exports/org/e/r.csv")
    assert storage.list_folder("exports/org/e") == []


def test_store_refuses_names_that_leave_it(any_store):
    for bad in ("../x", "/etc/passwd", "a/../../b", "a\\b", ""):
        with pytest.raises(storage.StoragePathError):
            storage.write_bytes(bad, b"x")


def test_presign_when_s3_downloads_with_file_name_for_15_minutes(s3_outputs):
    storage.write_bytes("tasks/org/t/part-0.parquet", b"PAR1")
    server, _ = s3_outputs
    link = storage.presign("tasks/org/t/part-0.parquet", filename="p.parquet")
    with server.unsigned_allowed():
        r = requests.get(link, timeout=30)
    assert r.status_code == 200 and r.content == b"PAR1"
    assert r.headers["Content-Disposition"] == 'attachment; filename="p.parquet"'
    assert "X-Amz-Expires=900" in link  # DELIVR_SIGNED_LINK_TTL_SECONDS: 15 minutes


def test_presign_when_local_is_none(settings, tmp_path):
    settings.DELIVR_OUTPUT_URL = ""
    storage.write_bytes("tasks/org/t/x.csv", b"x")
    assert storage.presign("tasks/org/t/x.csv", filename="x.csv") is None
    assert storage.uri("tasks/org/t/x.csv") == (tmp_path / "media" / "tasks/org/t/x.csv").as_uri()


@pytest.mark.django_db
def test_readyz_probes_the_configured_store(client, settings, s3_server):
    point_at(settings, s3_server)
    r = client.get("/readyz")
    assert r.json()["checks"]["output_store"]["ok"] is True, r.json()
    assert storage.list_folder("readyz") == []  # the probe cleans up
    settings.DELIVR_OUTPUT_URL = "s3://no-such-bucket/x"
    r = client.get("/readyz")
    assert r.status_code == 503
    check = r.json()["checks"]["output_store"]
    assert check["ok"] is False and "output store" in check["message"]
    settings.DELIVR_STORAGE_OPTIONS = {**s3_server.storage_options(), "s3_secret": "wrong"}
    settings.DELIVR_OUTPUT_URL = f"s3://{BUCKET}/x"
    assert client.get("/readyz").json()["checks"]["output_store"]["ok"] is False


SIGNING_CLIENTS = {
    "path style, custom endpoint": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "us-east-1"},
    "virtual hosts, session token": {
        "endpoint_url": "https://objects.example.com",
        "region_name": "eu-west-1",
        "addressing_style": "virtual",
        "aws_session_token": "tok/en+=",
    },
    "AWS default endpoint": {"region_name": "eu-central-1"},
    "GCS": {"endpoint_url": "https://storage.googleapis.com", "region_name": "auto"},
}


@pytest.mark.parametrize("options", SIGNING_CLIENTS.values(), ids=SIGNING_CLIENTS.keys())
def test_presign_many_when_s3_equals_boto3_signing_each_link(options):
    from urllib.parse import parse_qsl, urlsplit

    keys = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalr/K7MDENG+bPxRfiCY"}
    store = storage.S3Store("s3", "out-bucket", "pre/fix", client_options=options | keys)
    items = [
        (f"tasks/org/t/day=2024-05-0{i}/prefix=4eyes_10{i}/score=high/part-0.parquet", f"f-{i}.parquet")
        for i in range(1, 6)
    ]
    for _ in range(5):  # boto3 stamps the current second: compare links made within the same one
        links = store.presign_many(items, ttl=900)
        reference = [store.presign(name, filename=filename, ttl=900) for name, filename in items]
        if len({dict(parse_qsl(urlsplit(u).query))["X-Amz-Date"] for u in links + reference}) == 1:
            break
    for mine, theirs in zip(links, reference, strict=True):
        mine, theirs = urlsplit(mine), urlsplit(theirs)
        assert (mine.scheme, mine.netloc, mine.path) == (theirs.scheme, theirs.netloc, theirs.path)
        assert dict(parse_qsl(mine.query)) == dict(parse_qsl(theirs.query))  # the signature included


def _write_like_spark(folder: str, files: dict[str, bytes]) -> None:
    """What Spark's writer leaves in an output folder: a part file, _SUCCESS and hidden checksums."""
    if "://" not in folder:
        os.makedirs(folder)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as fh:
                fh.write(data)
        return
    bucket, _, key = folder.split("://", 1)[1].partition("/")
    for name, data in files.items():
        storage.store().client.put_object(Bucket=bucket, Key=f"{key}/{name}", Body=data)


def _staged(scheme: str) -> list[str]:
    """What is left under the store's staging folder."""
    found = storage.store()
    if scheme == "file":
        folder = os.path.join(found.root, storage.STAGING)
        return os.listdir(folder) if os.path.isdir(folder) else []
    pages = found.client.get_paginator("list_objects_v2").paginate(
        Bucket=found.bucket, Prefix=found.key(storage.STAGING)
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_write_from_folder_when_a_writer_leaves_one_file_then_it_is_in_place_and_the_folder_gone(any_store):
    scheme, _ = any_store
    name = "tasks/org/t2/day=2024-05-01/part-0.csv"
    storage.write_bytes(name, b"old\n")
    files = {
        "part-00000-3f1c-c000.csv": b"a,b\n1,2\n",
        "_SUCCESS": b"",
        ".part-00000-3f1c-c000.csv.crc": b"crc",
        "._SUCCESS.crc": b"crc",
    }

    got = storage.write_from_folder(name, lambda folder: _write_like_spark(folder, files) or 1)

    assert got == 1
    with storage.open_read(name) as fh:
        assert fh.read() == b"a,b\n1,2\n"
    assert storage.list_folder("tasks/org/t2") == [name]
    assert _staged(scheme) == []


def test_write_from_folder_when_the_writer_left_no_file_then_error_and_the_old_file_kept(any_store):
    scheme, _ = any_store
    name = "tasks/org/t3/part-0.parquet"
    storage.write_bytes(name, b"old")

    with pytest.raises(storage.OutputStoreError, match="no file written"):
        storage.write_from_folder(name, lambda folder: _write_like_spark(folder, {"_SUCCESS": b""}))

    with storage.open_read(name) as fh:
        assert fh.read() == b"old"
    assert _staged(scheme) == []


def test_place_from_folder_when_a_writer_leaves_a_file_per_sub_folder_then_each_is_in_place(any_store):
    scheme, _ = any_store
    names = {"tasks/org/t4/day=1/part-0.csv": "_part=0", "tasks/org/t4/day=2/part-0.csv": "_part=1"}

    def produce(folder: str) -> dict[str, str]:
        for i, sub in enumerate(names.values()):
            _write_like_spark(
                f"{folder}/{sub}", {f"part-0000{i}-c000.csv": f"n\n{i}\n".encode(), "_SUCCESS": b""}
            )
        return names

    storage.place_from_folder(produce)

    assert storage.list_folder("tasks/org/t4") == sorted(names)
    for i, name in enumerate(names):
        with storage.open_read(name) as fh:
            assert fh.read() == f"n\n{i}\n".encode()
    assert _staged(scheme) == []


def test_move_file_when_local_then_folders_made_once_file_readable_and_replaced(settings, tmp_path):
    settings.DELIVR_OUTPUT_URL = (tmp_path / "store").as_uri()
    name = "tasks/org/t1/day=2024-05-01/prefix=a/score=high/part-0.csv"
    staged = tmp_path / "staged.csv"
    fd = os.open(staged, os.O_CREAT | os.O_WRONLY, 0o600)  # as a private temporary file would be made
    os.write(fd, b"a\n1\n")
    os.close(fd)
    assert storage.move_file(name, str(staged)) == name  # its folders did not exist yet
    target = tmp_path / "store" / name
    assert target.read_bytes() == b"a\n1\n" and not staged.exists()
    assert target.stat().st_mode & 0o777 == 0o644  # the web server may run as another user
    again = tmp_path / "again.csv"
    again.write_bytes(b"a\n2\n")
    storage.move_file(name, str(again))  # a retried unit: its folder exists, the file is replaced
    assert target.read_bytes() == b"a\n2\n" and not again.exists()
    with pytest.raises(FileNotFoundError):
        storage.move_file("tasks/org/t1/other/part-0.csv", str(tmp_path / "never-written.csv"))
    assert not (tmp_path / "store" / "tasks/org/t1/other/part-0.csv").exists()
