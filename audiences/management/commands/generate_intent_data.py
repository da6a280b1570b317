"""``manage.py generate_intent_data``: write a deterministic demo/test intent dataset (hive Parquet tree)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audiences.engine.generator import GenerateParams, generate


class Command(BaseCommand):
    help = "Generate a deterministic hive-partitioned intent dataset (day/prefix/score) as zstd Parquet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, help="root directory of the tree (replaced if it exists)")
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--days", type=int, default=7)
        parser.add_argument("--prefixes", type=int, default=5)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--start-day", default="2024-05-01", help="first day, YYYY-MM-DD")
        parser.add_argument(
            "--no-count-values",
            dest="count_values",
            action="store_false",
            help="skip counting the builder's value suggestions of the new tree",
        )

    def handle(self, *args, **options) -> None:
        try:
            start = date.fromisoformat(options["start_day"]).isoformat()
            params = GenerateParams(
                rows=options["rows"],
                days=options["days"],
                prefixes=options["prefixes"],
                seed=options["seed"],
                start_day=start,
            )
            result = generate(options["out"], params)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["count_values"]:  # the builder's value suggestions, when the tree is an allowed root
            from audiences.services.values import field_values_warm_quietly

            field_values_warm_quietly(input_path=str(result.out), refresh=True)
        rate = result.total_rows / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"wrote {result.total_rows} rows, {result.distinct_persons} distinct persons, "
                f"{result.partitions} partitions to {result.out} "
                f"in {result.seconds:.1f}s ({rate:,.0f} rows/s)"
            )
        )
