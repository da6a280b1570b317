"""``manage.py field_values_warm [--input-path P] [--refresh]``: count the builder's value suggestions now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from audiences.services.values import WARM_DAYS, field_values_warm


class Command(BaseCommand):
    help = "Store per-day value counts of every suggested field (newest days of a dataset) for the builder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--input-path", default=None, help="dataset root (default: the demo/default data)"
        )
        parser.add_argument("--days", type=int, default=WARM_DAYS, help="newest days to count")
        parser.add_argument(
            "--refresh", action="store_true", help="recount days already stored (data rewritten)"
        )

    def handle(self, *args, **options) -> None:
        counted = field_values_warm(
            input_path=options["input_path"], days=options["days"], refresh=options["refresh"]
        )
        days = sum(counted.values())
        self.stdout.write(f"counted {days} field-day(s) over {len(counted)} suggested field(s)")
