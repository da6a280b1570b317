"""What `bin/run` needs before it starts serving: migrations and the demo's sign-ins, in one process.

The rest of the demo (its Parquet dataset, audiences, exports, campaigns, opt-outs: `manage.py seed_demo`) is
seeded by `bin/run` beside the starting web server and worker, so the first page answers without waiting for
it. Static files need no collecting: WhiteNoise serves them from the apps' and the project's folders
(`WHITENOISE_USE_FINDERS`).
"""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from delivr_admin.management.commands.seed_demo import ensure_demo_accounts


class Command(BaseCommand):
    help = "Apply migrations and create the demo organization and its users (safe to run again)."

    def handle(self, *args, **options) -> None:
        self.stdout.write("  Database: applying migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("  Demo: organization and sign-ins...")
        ensure_demo_accounts()
        # The data root the demo's dataset goes to: readable (and /readyz ready) before the dataset is written.
        Path(settings.DELIVR_DEMO_DATA).parent.mkdir(parents=True, exist_ok=True)
