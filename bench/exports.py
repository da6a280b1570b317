"""Exports: field-mapping validation throughput, and an end-to-end export to Parquet vs the bare engine.

    .venv/bin/python -m bench.exports [--rows 1000000] [--reference-rows 200000] [--repeat 5] [--runs 3]

1. Validation + normalization of `--rows` records with 10 mapped fields, from Arrow record batches (the dataset
   is read into memory first: this measures validation, not I/O). Batches of 65,536 rows, as a run feeds them
   (it coalesces the engine's per-file batches), and the engine's own per-file batches (~8k rows here). The
   vectorised path runs over all rows, best of `--repeat` (wall time, and the CPU time of that pass: the box
   is shared, so CPU time shows the cost without the neighbours' load); the per-record reference over the
   first `--reference-rows` (it is the slow one), and both must give identical rows and errors on those.
2. Export runs to a Parquet file through the run service (eager, in-process: count, suppression, dedupe by
   person, validation, destination, checkpoints, export-generated list) vs `engine.unload` of the same
   selection to Parquet, alternated `--runs` times, best of each:
   - "intent": the generated data, ~244k persons over 1M rows. The run writes one row per person (duplicates
     are skipped), the unload every row: not the same rows.
   - "unique": the same 1M rows with every person_id made unique, so the run dedupes nothing and writes every
     valid row (~94%): the same rows as the unload, the fair comparison.
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


def unique_dataset(root: Path, rows: int) -> Path:
    """The same tree with person_id made unique per row (`<person_id>-<n>`): a run then dedupes nothing."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = BENCH_DIR / "data" / "unique"
    marker = out / f"_rows_{rows}"
    if marker.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    n = 0
    for path in sorted(root.rglob("*.parquet")):
        table = pq.read_table(path)
        suffix = pc.cast(pa.array(range(n, n + table.num_rows), pa.int64()), pa.string())
        ids = pc.binary_join_element_wise(table.column("person_id"), suffix, "-")
        table = table.set_column(table.schema.get_field_index("person_id"), "person_id", ids)
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, compression="zstd")
        n += table.num_rows
    marker.touch()
    return out


def _best_pass(batches, mapping, repeat: int) -> tuple[float, float, int]:
    """(best wall seconds, CPU seconds of that pass, invalid rows) over `repeat` passes."""
    from exports.validation import validate_batch_full

    best = (float("inf"), 0.0, 0)
    for _ in range(repeat):
        invalid = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for batch in batches:
            invalid += batch.num_rows - validate_batch_full(batch, mapping).table.num_rows
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best[0]:
            best = (wall, cpu, invalid)
    return best


def bench_validation(root: Path, rows: int, reference_rows: int, repeat: int) -> dict:
    import pyarrow as pa

    from audiences import engine
    from exports.validation import mapping_parse, validate_batch_full, validate_records_reference

    mapping = mapping_parse(MAPPING)
    sel = engine.Selection(input_path=str(root), columns=tuple(m["source"] for m in MAPPING))
    engine_batches = list(engine.engine_for(sel.input_path).iter_batches(sel, batch_size=65536))
    table = pa.Table.from_batches(engine_batches)
    batches = table.combine_chunks().to_batches(max_chunksize=65536)
    validate_batch_full(batches[0], mapping)  # warm-up
    vec_seconds, vec_cpu, invalid = _best_pass(batches, mapping, repeat)
    small_seconds, small_cpu, _ = _best_pass(engine_batches, mapping, repeat)

    subset = table.slice(0, reference_rows)
    records = subset.to_pylist()
    t0 = time.perf_counter()
    ref_valid, ref_errors = validate_records_reference(records, mapping)
    ref_seconds = time.perf_counter() - t0
    vec_rows, vec_errors, offset = [], [], 0
    for batch in subset.combine_chunks().to_batches(max_chunksize=65536):
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
        "vec_cpu_rate": table.num_rows / vec_cpu,
        "engine_batches": len(engine_batches),
        "small_rate": table.num_rows / small_seconds,
        "small_cpu_rate": table.num_rows / small_cpu,
        "ref_rows": subset.num_rows,
        "ref_rate": subset.num_rows / ref_seconds,
        "identical": identical,
    }


def bench_export(root: Path, name: str, runs: int) -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Membership, Organization, Project, Role, User
    from accounts.selectors import principal_for_user
    from audiences import engine
    from audiences.models import Audience
    from audiences.selectors.audiences import audience_selection
    from exports.models import ExportRun
    from exports.services.exports import export_create
    from exports.services.runs import export_run_execute
    from exports.services.runs.keys import KEY_COLUMNS

    org, _ = Organization.objects.get_or_create(name="Bench exports", parent=None)
    project, _ = Project.objects.get_or_create(organization=org, name="Bench")
    user = User.objects.filter(email="bench-exports@example.com").first() or User.objects.create_user(
        email="bench-exports@example.com", password="bench-exports"
    )
    Membership.objects.get_or_create(user=user, organization=org, defaults={"role": Role.ADMIN})
    principal = principal_for_user(user, org.id)
    audience, _ = Audience.objects.get_or_create(
        organization=org, project=project, name=f"Everyone ({name})", defaults={"definition": {}}
    )
    Audience.objects.filter(pk=audience.pk).update(input_path=str(root))
    audience.refresh_from_db()
    export = export_create(
        principal=principal,
        project_id=project.id,
        audience_id=audience.id,
        name=f"Bench {name} {time.time()}",
        destination_type="file",
        destination_config={"format": "parquet"},
        field_mapping=MAPPING,
    )
    columns = tuple(dict.fromkeys([m["source"] for m in MAPPING] + list(KEY_COLUMNS)))
    sel = audience_selection(audience, columns=columns)
    out = BENCH_DIR / "unload.parquet"
    unload_seconds = run_seconds = float("inf")
    ratios = []
    for _ in range(runs):
        t0 = time.perf_counter()
        unloaded = engine.engine_for(sel.input_path).unload(sel, None, "parquet", str(out))
        unload = time.perf_counter() - t0
        run = ExportRun.objects.create(export=export, organization=org)
        t0 = time.perf_counter()
        status = export_run_execute(run_id=run.pk)
        took = time.perf_counter() - t0
        ratios.append(took / unload)
        unload_seconds, run_seconds = min(unload_seconds, unload), min(run_seconds, took)
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
        "ratios": sorted(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="validation passes (best is reported)")
    parser.add_argument("--runs", type=int, default=3, help="export run + unload pairs per dataset")
    parser.add_argument("--keep", action="store_true", help="keep var/bench-exports/media afterwards")
    args = parser.parse_args()
    root = setup(args.rows)
    unique = unique_dataset(root, args.rows)
    load = os.getloadavg()
    v = bench_validation(root, args.rows, args.reference_rows, args.repeat)
    print(f"load average at start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print(
        f"validation (10 fields), batches of 65,536: vectorised {v['vec_rate']:,.0f} records/s over "
        f"{v['rows']:,} records (best of {args.repeat}: {v['vec_seconds']:.2f} s; "
        f"{v['vec_cpu_rate']:,.0f} records per CPU second; {v['invalid']:,} invalid); reference loop "
        f"{v['ref_rate']:,.0f} records/s over {v['ref_rows']:,}; speed-up {v['vec_rate'] / v['ref_rate']:.1f}x; "
        f"identical results: {v['identical']}"
    )
    print(
        f"validation, the engine's own {v['engine_batches']} per-file batches (~{v['rows'] // v['engine_batches']:,} "
        f"rows): {v['small_rate']:,.0f} records/s ({v['small_cpu_rate']:,.0f} per CPU second)"
    )
    for name, path in (("intent", root), ("unique", unique)):
        e = bench_export(path, name, args.runs)
        print(
            f"export run to Parquet ({name}): {e['run_seconds']:.2f} s for {e['records_total']:,} records "
            f"({e['records_exported']:,} written, {e['records_duplicated']:,} duplicates, "
            f"{e['records_failed']:,} invalid; {e['status']}); engine.unload of the same selection: "
            f"{e['unload_seconds']:.2f} s for {e['unloaded']:,} rows; ratio of bests {e['ratio']:.2f}x "
            f"(per pair: {', '.join(f'{r:.2f}' for r in e['ratios'])}; best of {args.runs})"
        )
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not args.keep:
        shutil.rmtree(BENCH_DIR / "media", ignore_errors=True)


if __name__ == "__main__":
    main()
