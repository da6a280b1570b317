"""Exports: field-mapping validation throughput, and an end-to-end export to Parquet vs the bare engine.

    .venv/bin/python -m bench.exports [--rows 1000000] [--reference-rows 200000]

1. Validation + normalization of `--rows` records with 10 mapped fields, from Arrow record batches of 65,536
   (the dataset is read into memory first: this measures validation, not I/O). The vectorised path runs over
   all rows; the per-record reference over the first `--reference-rows` (it is the slow one), and both must
   give identical rows and errors on those.
2. One export run of the same dataset to a Parquet file through the run service (eager, in-process: count,
   suppression, dedupe by person, validation, destination, checkpoints, export-generated list) vs
   `engine.unload` of the same selection to Parquet. The run writes one row per person (duplicates are
   skipped), the unload every row.
Data comes from the deterministic generator in var/bench-exports/ (made once); a fresh SQLite database there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench-exports"

MAPPING = [
    {"source": "email", "target": "Email", "type": "email", "required": True},
    {"source": "first_name", "target": "FirstName", "max_length": 40, "required": True},
    {"source": "last_name", "target": "LastName", "max_length": 80, "default": "Unknown"},
    {"source": "job_title", "target": "JobTitle", "max_length": 24, "truncate": True},
    {"source": "company_name", "target": "Company", "max_length": 255},
    {"source": "company_domain", "target": "CompanyDomain", "max_length": 100},
    {
        "source": "company_employee_count",
        "target": "Size",
        "picklist": ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+"],
    },
    {"source": "country", "target": "Country", "picklist": ["US", "CA", "GB", "DE", "FR", "AU", "IN", "BR"]},
    {"source": "state", "target": "State", "max_length": 3},
    {"source": "topic_id", "target": "Topics", "multi_value": True, "max_length": 200},
]


def setup(rows: int) -> Path:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{BENCH_DIR / 'db.sqlite3'}")
    os.environ["DELIVR_DEMO_DATA"] = str(BENCH_DIR / "data" / "intent")
    os.environ["DELIVR_DATA_ROOTS"] = str(BENCH_DIR / "data")
    os.environ["DELIVR_MEDIA_ROOT"] = str(BENCH_DIR / "media")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from audiences.engine.generator import GenerateParams, generate

    root = BENCH_DIR / "data" / "intent"
    marker = root / f"_rows_{rows}"
    if not marker.exists():
        generate(str(root), GenerateParams(rows=rows, days=10, prefixes=4, seed=77, start_day="2024-05-01"))
        marker.touch()
    return root


def bench_validation(root: Path, rows: int, reference_rows: int) -> dict:
    import pyarrow as pa

    from audiences import engine
    from exports.validation import mapping_parse, validate_batch_full, validate_records_reference

    mapping = mapping_parse(MAPPING)
    sel = engine.Selection(input_path=str(root), columns=tuple(m["source"] for m in MAPPING))
    table = pa.Table.from_batches(list(engine.iter_batches(sel, batch_size=65536)))
    batches = table.to_batches(max_chunksize=65536)
    validate_batch_full(batches[0], mapping)  # warm-up
    t0 = time.perf_counter()
    valid = invalid = 0
    for batch in batches:
        result = validate_batch_full(batch, mapping)
        valid += result.table.num_rows
        invalid += batch.num_rows - result.table.num_rows
    vec_seconds = time.perf_counter() - t0

    subset = table.slice(0, reference_rows)
    records = subset.to_pylist()
    t0 = time.perf_counter()
    ref_valid, ref_errors = validate_records_reference(records, mapping)
    ref_seconds = time.perf_counter() - t0
    vec_rows, vec_errors, offset = [], [], 0
    for batch in subset.to_batches(max_chunksize=65536):
        result = validate_batch_full(batch, mapping)
        vec_rows.extend(result.table.to_pylist())
        vec_errors.extend((r + offset, f, c, m) for r, f, c, m in result.errors)
        offset += batch.num_rows
    identical = vec_rows == ref_valid and vec_errors == ref_errors
    return {
        "rows": table.num_rows,
        "invalid": invalid,
        "vec_rate": table.num_rows / vec_seconds,
        "vec_seconds": vec_seconds,
        "ref_rows": subset.num_rows,
        "ref_rate": subset.num_rows / ref_seconds,
        "identical": identical,
    }


def bench_export(root: Path) -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Membership, Organization, Project, Role, User
    from accounts.selectors import principal_for_user
    from audiences import engine
    from audiences.models import Audience
    from audiences.selectors.audiences import audience_selection
    from exports.models import ExportRun
    from exports.services.exports import export_create
    from exports.services.runs import KEY_COLUMNS, export_run_execute

    org, _ = Organization.objects.get_or_create(name="Bench exports", parent=None)
    project, _ = Project.objects.get_or_create(organization=org, name="Bench")
    user = User.objects.filter(email="bench-exports@example.com").first() or User.objects.create_user(
        email="bench-exports@example.com", password="bench-exports"
    )
    Membership.objects.get_or_create(user=user, organization=org, defaults={"role": Role.ADMIN})
    principal = principal_for_user(user, org.id)
    audience, _ = Audience.objects.get_or_create(
        organization=org, project=project, name="Everyone", defaults={"definition": {}}
    )
    export = export_create(
        principal=principal,
        project_id=project.id,
        audience_id=audience.id,
        name=f"Bench {time.time()}",
        destination_type="file",
        destination_config={"format": "parquet"},
        field_mapping=MAPPING,
    )
    columns = tuple(dict.fromkeys([m["source"] for m in MAPPING] + list(KEY_COLUMNS)))
    sel = audience_selection(audience, columns=columns)
    out = BENCH_DIR / "unload.parquet"
    t0 = time.perf_counter()
    unloaded = engine.unload(sel, None, "parquet", str(out))
    unload_seconds = time.perf_counter() - t0

    run = ExportRun.objects.create(export=export, organization=org)
    t0 = time.perf_counter()
    status = export_run_execute(run_id=run.pk)
    run_seconds = time.perf_counter() - t0
    run.refresh_from_db()
    return {
        "status": status,
        "records_total": run.records_total,
        "records_exported": run.records_exported,
        "records_failed": run.records_failed,
        "records_duplicated": run.records_duplicated,
        "run_seconds": run_seconds,
        "unloaded": unloaded,
        "unload_seconds": unload_seconds,
        "ratio": run_seconds / unload_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep var/bench-exports/ afterwards")
    args = parser.parse_args()
    root = setup(args.rows)
    load = os.getloadavg()[0]
    v = bench_validation(root, args.rows, args.reference_rows)
    print(f"load average at start: {load:.1f} on {os.cpu_count()} cores")
    print(
        f"validation (10 fields): vectorised {v['vec_rate']:,.0f} records/s over {v['rows']:,} records "
        f"({v['vec_seconds']:.2f} s, {v['invalid']:,} invalid); reference loop {v['ref_rate']:,.0f} records/s "
        f"over {v['ref_rows']:,}; speed-up {v['vec_rate'] / v['ref_rate']:.1f}x; identical results: {v['identical']}"
    )
    e = bench_export(root)
    print(
        f"export run to Parquet: {e['run_seconds']:.2f} s for {e['records_total']:,} records "
        f"({e['records_exported']:,} written, {e['records_duplicated']:,} duplicates, {e['records_failed']:,} "
        f"invalid; {e['status']}); engine.unload of the same selection: {e['unload_seconds']:.2f} s for "
        f"{e['unloaded']:,} rows; ratio {e['ratio']:.2f}x"
    )
    if not args.keep:
        shutil.rmtree(BENCH_DIR / "media", ignore_errors=True)


if __name__ == "__main__":
    main()
