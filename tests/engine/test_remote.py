"""The engine on s3:// (and gs:// through the S3-compatible API) against a real S3 server: moto's, in-process.

The server checks SigV4 signatures against an IAM access key (moto's auth is switched on after the upload), so
a wrong secret is refused as AWS would refuse it. Every remote result is compared with the same call on the
local copy of the tree.
"""

import io
import json
import os

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from audiences import engine
from audiences.engine import EngineError, Selection, Suppression, remote
from audiences.engine.generator import GenerateParams, generate
from audiences.engine.paths import InputPathError, resolve_input_path
from audiences.engine.selection import KEY_RE, wanted
from delivr_admin.emails import email_sha256
from tests.s3server import moto_s3

DUCKDB = engine.DuckDBEngine()  # the embedded backend these tests exercise

BUCKET = "delivr-data"


@pytest.fixture(scope="module")
def local_tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("remote") / "intent")
    generate(root, GenerateParams(rows=6_000, days=3, prefixes=3, seed=5, start_day="2024-05-01"))
    with open(os.path.join(root, "_manifest.json")) as fh:
        return root, json.load(fh)


def _upload(s3, root: str, prefix: str, *, flat: bool = False) -> None:
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if flat:  # the same files without hive folders (and without the metadata files)
                if not name.endswith(".parquet"):
                    continue
                rel = rel.replace("/", "_")
            with open(path, "rb") as fh:
                s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{rel}", Body=fh.read())


@pytest.fixture(scope="module")
def s3_server(local_tree):
    """(endpoint, access key id, secret) of a moto S3 server holding the tree under s3://delivr-data/intent."""
    with moto_s3((BUCKET,)) as server:
        s3 = server.client(boot=True)
        _upload(s3, local_tree[0], "intent")
        _upload(s3, local_tree[0], "flat", flat=True)
        server.require_auth()  # from here on every request must be signed with the reader's key
        yield server.endpoint, server.key_id, server.secret


def _options(s3_server, **overrides):
    endpoint, key_id, secret = s3_server
    opts = {"s3_key_id": key_id, "s3_secret": secret, "s3_region": "us-east-1", "s3_endpoint": endpoint}
    return opts | {"request_timeout": 10} | overrides


@pytest.fixture
def s3(s3_server):
    engine.configure(storage_options=_options(s3_server))
    yield f"s3://{BUCKET}/intent"
    engine.configure(storage_options={})


SELECTIONS = [
    {},
    {"days": ("2024-05-02",)},
    {"prefixes": ("4eyes_100", "4eyes_102"), "scores": ("high",)},
    {
        "days": ("20240501", "2024-05-03"),
        "scores": ("medium", "low"),
        "where_sql": "company_employee_count > 1",
    },
]


def _pair(local_tree, remote_root, **kwargs):
    where = kwargs.pop("where_sql", None)
    if where:
        where = engine.validate_where(where, DUCKDB.dataset_columns(local_tree[0]))
    return Selection(local_tree[0], where_sql=where, **kwargs), Selection(
        remote_root, where_sql=where, **kwargs
    )


def test_list_partitions_when_remote_then_same_keys_as_local_and_no_metadata_files(local_tree, s3):
    root, manifest = local_tree
    assert DUCKDB.list_partitions(Selection(s3)) == sorted(manifest["partitions"])
    for kwargs in SELECTIONS:
        kwargs = {k: v for k, v in kwargs.items() if k != "where_sql"}
        assert DUCKDB.list_partitions(Selection(s3, **kwargs)) == DUCKDB.list_partitions(
            Selection(root, **kwargs)
        )
    assert DUCKDB.list_partitions(Selection(s3, days=("2030-01-01",))) == []


class _Recording(pafs.FileSystemHandler):
    """Delegates to a real filesystem and records which folders were listed."""

    def __init__(self, inner):
        self.inner, self.listed = inner, []

    def get_file_info_selector(self, selector):
        self.listed.append((selector.base_dir, selector.recursive))
        return self.inner.get_file_info(selector)

    def get_type_name(self):
        return "recording"

    def get_file_info(self, paths):
        return self.inner.get_file_info(paths)

    def normalize_path(self, path):
        return self.inner.normalize_path(path)

    def open_input_file(self, path):
        return self.inner.open_input_file(path)

    def open_input_stream(self, path):
        return self.inner.open_input_stream(path)

    def _read_only(self, *args, **kwargs):
        raise NotImplementedError("read-only")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = _read_only
    move = copy_file = open_output_stream = open_append_stream = _read_only


def test_list_tree_when_remote_then_lists_only_wanted_days_and_prefixes(s3_server, s3):
    handler = _Recording(remote.filesystem(s3, _options(s3_server)))
    fs = pafs.PyFileSystem(handler)
    sel = Selection(s3, days=("2024-05-02",), prefixes=("4eyes_101",), scores=("high",))
    hive, layout = remote.list_tree(
        fs, f"{BUCKET}/intent", lambda k, v: wanted(sel, k, v), sel.prefixes, KEY_RE
    )
    assert hive and list(layout) == ["day=2024-05-02/prefix=4eyes_101/score=high"]
    assert handler.listed == [
        (f"{BUCKET}/intent", False),
        (f"{BUCKET}/intent/day=2024-05-02/prefix=4eyes_101", True),
    ]
    handler.listed.clear()
    sel = Selection(s3, days=("2024-05-01", "2024-05-03"))
    remote.list_tree(fs, f"{BUCKET}/intent", lambda k, v: wanted(sel, k, v), (), KEY_RE)
    assert sorted(handler.listed) == [
        (f"{BUCKET}/intent", False),
        (f"{BUCKET}/intent/day=2024-05-01", True),
        (f"{BUCKET}/intent/day=2024-05-03", True),
    ]


def test_dataset_columns_when_remote_then_same_as_local(local_tree, s3):
    assert DUCKDB.dataset_columns(s3) == DUCKDB.dataset_columns(local_tree[0])


@pytest.mark.parametrize("kwargs", SELECTIONS)
def test_counts_when_remote_then_equal_local(local_tree, s3, kwargs):
    local, rem = _pair(local_tree, s3, **kwargs)
    assert DUCKDB.count(rem) == DUCKDB.count(local)
    assert DUCKDB.count_distinct(rem) == DUCKDB.count_distinct(local)
    assert DUCKDB.count_distinct(rem, "company_domain") == DUCKDB.count_distinct(local, "company_domain")
    keys = DUCKDB.list_partitions(local)
    for key in keys[:3]:
        assert DUCKDB.count(rem, key) == DUCKDB.count(local, key)
    assert DUCKDB.count_partitions(rem, keys) == DUCKDB.count_partitions(local, keys)
    listing = DUCKDB.partition_files(rem)  # what a planner hands a unit: read without listing again
    assert {k: [size for _, size in v] for k, v in listing.items()} == {
        k: [size for _, size in v] for k, v in DUCKDB.partition_files(local).items()
    }
    assert DUCKDB.count_partitions(rem, keys, listing=listing) == DUCKDB.count_partitions(local, keys)


def test_reads_when_remote_then_equal_local(local_tree, s3):
    local, rem = _pair(
        local_tree, s3, days=("2024-05-01", "2024-05-02"), where_sql="score = 'high' OR intent_frequency > 2"
    )
    assert DUCKDB.preview(rem, 50) == DUCKDB.preview(local, 50)
    assert DUCKDB.sample(rem, 40) == DUCKDB.sample(local, 40)
    proj = dict(columns=("person_id", "email", "day", "score"))
    local_p = Selection(**{**local.__dict__, **proj})
    rem_p = Selection(**{**rem.__dict__, **proj})
    assert DUCKDB.preview(rem_p, 10) == DUCKDB.preview(local_p, 10)
    local_rows = pa.Table.from_batches(list(DUCKDB.iter_batches(local_p, 700))).sort_by("person_id")
    rem_rows = pa.Table.from_batches(list(DUCKDB.iter_batches(rem_p, 700))).sort_by("person_id")
    assert rem_rows.equals(local_rows) and rem_rows.num_rows > 700
    assert list(DUCKDB.iter_batches(rem_p, 500, limit=3))[0].num_rows == 3
    csv_local = b"".join(DUCKDB.write_csv_stream(local_p, batch_size=500))
    csv_remote = b"".join(DUCKDB.write_csv_stream(rem_p, batch_size=500))
    assert sorted(csv_remote.splitlines()) == sorted(csv_local.splitlines())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_unload_when_remote_partition_then_same_rows_as_local(local_tree, s3, fmt):
    local, rem = _pair(local_tree, s3, days=("2024-05-03",))
    key = DUCKDB.list_partitions(local)[0]
    out_local, out_remote = io.BytesIO(), io.BytesIO()
    n = DUCKDB.unload(rem, key, fmt, out_remote)
    assert n == DUCKDB.unload(local, key, fmt, out_local) == local_tree[1]["partitions"][key]
    read = pq.read_table if fmt == "parquet" else pacsv.read_csv
    a, b = read(io.BytesIO(out_remote.getvalue())), read(io.BytesIO(out_local.getvalue()))
    assert a.sort_by("row_id" if "row_id" in a.column_names else "person_id").equals(
        b.sort_by("row_id" if "row_id" in b.column_names else "person_id")
    )


def test_suppression_when_remote_then_rows_removed_as_locally(local_tree, s3):
    rows = DUCKDB.preview(Selection(local_tree[0], days=("2024-05-01",)), 30)
    sup = Suppression(
        person_ids=[r["person_id"] for r in rows[:10]],
        emails=[r["email"].upper() for r in rows[10:20] if r["email"]],
        email_sha256=[email_sha256(r["email"]) for r in rows[20:30] if r["email"]],
    )
    local = Selection(local_tree[0], suppression=sup)
    rem = Selection(s3, suppression=sup)
    kept, removed = DUCKDB.count_with_suppressed(rem)
    assert (kept, removed) == DUCKDB.count_with_suppressed(local) and removed >= 30
    assert DUCKDB.count_distinct(rem) == DUCKDB.count_distinct(local)
    assert DUCKDB.count_summary(rem) == DUCKDB.count_summary(local)
    keys = DUCKDB.list_partitions(local)
    assert DUCKDB.count_partitions(rem, keys) == DUCKDB.count_partitions(local, keys)
    out = pa.Table.from_batches(list(DUCKDB.iter_batches(rem)))
    assert out.num_rows == kept
    assert not set(out["person_id"].to_pylist()) & sup.person_ids


def test_non_hive_tree_when_remote_then_counts_equal_local(local_tree, s3):
    flat = s3.replace("/intent", "/flat")
    assert DUCKDB.list_partitions(Selection(flat)) == []
    assert DUCKDB.count(Selection(flat)) == local_tree[1]["total_rows"]
    assert "day" not in DUCKDB.dataset_columns(flat)


def test_remote_when_wrong_secret_then_engine_error(s3_server, s3):
    engine.configure(storage_options=_options(s3_server, s3_secret="wrong"))
    for call in (
        lambda: DUCKDB.dataset_columns(s3),
        lambda: DUCKDB.count(Selection(s3)),
        lambda: DUCKDB.list_partitions(Selection(s3)),
        lambda: list(DUCKDB.iter_batches(Selection(s3))),
    ):
        with pytest.raises(EngineError, match="SIGNATURE_DOES_NOT_MATCH"):
            call()


def test_remote_when_bucket_or_tree_missing_then_engine_error(s3):
    with pytest.raises(EngineError, match="NO_SUCH_BUCKET"):
        DUCKDB.count(Selection("s3://no-such-bucket/intent"))
    with pytest.raises(EngineError, match="no Parquet files"):
        DUCKDB.dataset_columns(f"s3://{BUCKET}/nothing-here")
    assert DUCKDB.count(Selection(f"s3://{BUCKET}/intent", days=("2030-01-01",))) == 0


def test_remote_when_endpoint_unreachable_then_engine_error(s3_server, local_tree):
    engine.configure(storage_options=_options(s3_server, s3_endpoint="http://127.0.0.1:9", connect_timeout=1))
    try:
        with pytest.raises(EngineError):
            DUCKDB.count(Selection(f"s3://{BUCKET}/intent"))
    finally:
        engine.configure(storage_options={})


def test_gs_when_hmac_keys_then_read_through_s3_compatible_api(s3_server, local_tree):
    endpoint, key_id, secret = s3_server
    engine.configure(storage_options={"gcs_key_id": key_id, "gcs_secret": secret, "gcs_endpoint": endpoint})
    try:
        sel = Selection(f"gs://{BUCKET}/intent", scores=("low",))
        assert DUCKDB.count(sel) == DUCKDB.count(Selection(local_tree[0], scores=("low",)))
    finally:
        engine.configure(storage_options={})


def test_gcs_filesystem_when_no_hmac_keys_then_pyarrow_gcs_with_endpoint():
    fs = remote.filesystem("gs://bkt/x", {"gcs_anonymous": True, "gcs_endpoint": "http://127.0.0.1:9"})
    options = fs.__reduce__()[1][0]
    assert isinstance(fs, pafs.GcsFileSystem) and options["anonymous"]
    assert options["endpoint_override"] == "127.0.0.1:9" and options["scheme"] == "http"
    remote.reset()


def test_gs_when_gcs_endpoint_unreachable_then_engine_error():
    engine.configure(
        storage_options={"gcs_anonymous": True, "gcs_endpoint": "http://127.0.0.1:9", "request_timeout": 1}
    )
    try:
        with pytest.raises(EngineError):
            DUCKDB.count(Selection("gs://bkt/intent"))
    finally:
        engine.configure(storage_options={})


def test_list_tree_when_any_filesystem_then_prunes_and_skips_hidden(local_tree, tmp_path):
    """The listing logic is the same for S3 and GCS: here on a local pyarrow filesystem with odd extras."""
    root, manifest = local_tree
    fs = pafs.LocalFileSystem()
    extra = tmp_path / "t"
    import shutil

    shutil.copytree(root, extra)
    (extra / "day=2024-05-01" / "_temporary").mkdir()
    shutil.copy(
        next((extra / "day=2024-05-01").glob("prefix=*/score=*/*.parquet")),
        extra / "day=2024-05-01" / "_temporary" / "x.parquet",
    )
    (extra / "day=2024-05-01" / "prefix=4eyes_100" / ".hidden.parquet").write_bytes(b"junk")
    (extra / "day=2024-05-01" / "prefix=4eyes_100" / "score=high" / "notes.txt").write_text("x")
    sel = Selection(str(extra))
    hive, layout = remote.list_tree(fs, str(extra), lambda k, v: wanted(sel, k, v), (), KEY_RE)
    assert hive and sorted(layout) == sorted(manifest["partitions"])
    assert all(i.path.endswith(".parquet") and "/_" not in i.path for infos in layout.values() for i in infos)
    sel = Selection(str(extra), prefixes=("4eyes_102", "../x"), scores=("HIGH",))
    hive, layout = remote.list_tree(fs, str(extra), lambda k, v: wanted(sel, k, v), sel.prefixes, KEY_RE)
    assert sorted(layout) == [k for k in sorted(manifest["partitions"]) if "4eyes_102/score=high" in k]


@pytest.mark.parametrize(
    "path",
    [
        "s3://delivr-data/intent/../secret",
        "s3://delivr-data/intent/./x/..",
        "s3:///intent",
        "s3://",
        "s3://other-bucket/intent",
        "s3://delivr-data/intent-evil",
        "s3://delivr-data",
        "gs://delivr-data/intent",
        "S3://delivr-data/intent",
        "s3://delivr-data/intent\\..\\x",
    ],
)
def test_resolve_input_path_when_remote_outside_root_then_rejected(path):
    with pytest.raises(InputPathError):
        resolve_input_path(path, ["/nonexistent-local-root", "s3://delivr-data/intent"])


def test_resolve_input_path_when_remote_inside_root_then_canonical():
    roots = ["s3://delivr-data/intent/"]
    assert resolve_input_path("s3://delivr-data/intent//day=2024-05-01/", roots) == (
        "s3://delivr-data/intent/day=2024-05-01"
    )
    assert resolve_input_path("s3://delivr-data/intent", roots) == "s3://delivr-data/intent"


@pytest.fixture
def s3_settings(settings, s3_server, local_tree, tmp_path):
    """Django pointed at the S3 server: remote root allowed, credentials from DELIVR_STORAGE_OPTIONS."""
    from audiences import datasets

    endpoint, key_id, secret = s3_server
    settings.DELIVR_DATA_ROOTS = [os.path.dirname(local_tree[0]), f"s3://{BUCKET}/intent"]
    settings.DELIVR_STORAGE_OPTIONS = {
        "s3_key_id": key_id,
        "s3_secret": secret,
        "s3_region": "us-east-1",
        "s3_endpoint": endpoint,
        "gcs_key_id": "",
    }
    settings.MEDIA_ROOT = tmp_path / "media"
    datasets._configured.cache_clear()  # configure() is cached per process: make it read the override
    yield settings
    datasets._configured.cache_clear()
    engine.configure(storage_options={})


@pytest.mark.django_db
def test_intent_task_api_when_s3_input_path_then_counts_and_unloads_equal_manifest(
    tenant, s3_settings, local_tree
):
    from delivr_admin import storage

    manifest = local_tree[1]
    client = tenant.key()
    body = {
        "input_path": f"s3://{BUCKET}/intent",
        "days": ["2024-05-01", "20240503"],
        "topic_id_prefixes": ["4eyes_100", "4eyes_101"],
        "scores": ["high", "low"],
    }
    r = client.post("/api/v1/intent_hive_tasks", body, format="json")
    assert r.status_code == 201, r.content
    status = client.get(f"/api/v1/status/{r.json()['task_id']}").json()
    keys = {
        f"day={d}/prefix={p}/score={s}"
        for d in ("2024-05-01", "2024-05-03")
        for p in ("4eyes_100", "4eyes_101")
        for s in ("high", "low")
    } & set(manifest["partitions"])
    assert status["status"] == "completed", status
    assert status["counts"] == {k: manifest["partitions"][k] for k in keys}
    for key, name in status["outputs"].items():
        with storage.open_read(storage.name_of(name)) as fh:
            assert pq.read_table(fh).num_rows == manifest["partitions"][key]

    r = client.post(
        "/api/v1/generic_parquet_tasks",
        {"input_path": f"s3://{BUCKET}/intent", "perform_unload": False, "where_expr": "score = 'high'"},
        format="json",
    )
    assert r.status_code == 201, r.content
    status = client.get(f"/api/v1/status/{r.json()['task_id']}").json()
    high = sum(n for k, n in manifest["partitions"].items() if k.endswith("score=high"))
    assert status["status"] == "counted" and status["total_count"] == high


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["s3://other-bucket/intent", f"s3://{BUCKET}/intent/../x", f"s3://{BUCKET}/intentx"]
)
def test_intent_task_api_when_s3_path_outside_roots_then_400(tenant, s3_settings, path):
    r = tenant.key().post("/api/v1/generic_parquet_tasks", {"input_path": path}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input_path"


@pytest.mark.django_db
def test_intent_task_api_when_s3_secret_wrong_then_400_naming_the_refusal(tenant, s3_settings):
    from audiences import datasets

    s3_settings.DELIVR_STORAGE_OPTIONS = {**s3_settings.DELIVR_STORAGE_OPTIONS, "s3_secret": "wrong"}
    datasets._configured.cache_clear()
    r = tenant.key().post(
        "/api/v1/generic_parquet_tasks", {"input_path": f"s3://{BUCKET}/intent"}, format="json"
    )
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "invalid_input_path" and "SIGNATURE_DOES_NOT_MATCH" in error["message"]


@pytest.mark.spark
@pytest.mark.skipif(not os.environ.get("DELIVR_SPARK_REMOTE"), reason="DELIVR_SPARK_REMOTE is not set")
def test_spark_when_the_cluster_has_no_s3a_then_an_engine_error_saying_what_it_lacks(s3):
    """The pip pyspark cluster (bin/spark) has no hadoop-aws jar, and this machine reaches no Maven
    repository to fetch one: an s3:// tree on Spark fails with an EngineError naming the missing piece
    (README "Scaling"), after the product listed the tree itself from the S3 server."""
    from audiences.engine.spark import SparkEngine

    spark = SparkEngine(os.environ["DELIVR_SPARK_REMOTE"])
    try:
        assert spark.list_partitions(Selection(s3, days=("2024-05-02",)))  # listed by the product
        with pytest.raises(EngineError, match="hadoop-aws"):
            spark.count(Selection(s3, days=("2024-05-02",)))
    finally:
        spark.close()
