"""`make bench` / `python -m bench [name ...]`: runs every benchmark module (or the named ones) in turn.

Each module in bench/ with a `main()` is a benchmark; each prints its own figures. Figures worth keeping go
into bench/RESULTS.md by hand, with the machine's load at the time.
"""

import importlib
import pkgutil
import subprocess
import sys
import time
from pathlib import Path


def modules() -> list[str]:
    here = Path(__file__).parent
    names = [m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")]
    return sorted(n for n in names if hasattr(importlib.import_module(f"bench.{n}"), "main"))


def run(names: list[str]) -> int:
    failed = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        # A fresh interpreter per benchmark: each sets its own environment (database, data roots).
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"=== bench.{name}: exit {code} in {time.monotonic() - started:.0f} s ===", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivr_admin.settings")
    sys.exit(run(sys.argv[1:] or modules()))
