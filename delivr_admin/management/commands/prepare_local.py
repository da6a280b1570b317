"""`bin/run`'s preparation in one process: migrations, demo data and static files.

One process instead of three: each `manage.py` start imports every app (Django, DuckDB, pyarrow, polars,
plotly...), which is most of a first start's time after the install on a busy machine.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


@contextmanager
def _logs_to(log: TextIO) -> Iterator[None]:
    """The console's log records (e.g. kombu's "No hostname was supplied" when the seed queues a task on the
    filesystem broker) go to ``log`` while the block runs: the console shows the steps only."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    streams = [h.setStream(log) for h in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)


class Command(BaseCommand):
    help = "Apply migrations, seed the demo (output to --seed-log) and collect static files, in one process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed-log", type=Path, required=True, help="Where the demo seeding writes.")

    def handle(self, *args, seed_log: Path, **options) -> None:
        self.stdout.write("  Database: applying migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("  Demo: seeding the demo organization and its Parquet dataset (first run only)...")
        with seed_log.open("w") as log, _logs_to(log):
            try:
                call_command("seed_demo", stdout=log, stderr=log)
            except Exception as exc:
                log.flush()
                raise CommandError(f"seeding the demo failed:\n{seed_log.read_text()}") from exc
        self.stdout.write("  Static files: collecting...")
        call_command("collectstatic", interactive=False, verbosity=0)
