"""Time from `make run` on a fresh clone (no venv, no data) to the first answered page, for two commits.

    .venv/bin/python -m bench.first_run [OLD_REF] [NEW_REF] [--abba]   (defaults: the commit before the
                                                                   requirements-dev split, and HEAD)

Each commit is cloned into a temporary folder and started with `make run` on a free port; the clock stops
when `GET /login/` answers 200 (not when a banner is printed). pip runs without its cache so both commits pay
for their downloads the same way. Both runs happen in one invocation, back to back, on the same machine;
with --abba four runs (old, new, new, old) and the ratio of the sums, so a load that drifts during the runs
weighs on both commits alike.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLD_DEFAULT = "c0a841a"  # the last commit before requirements-dev.txt


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def first_run(ref: str) -> dict[str, float]:
    """Seconds from `make run` to the first answered page, and to the end of the pip install."""
    folder = Path(tempfile.mkdtemp(prefix="delivr-first-run-"))
    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
        subprocess.run(["git", "checkout", "-q", ref], cwd=folder, check=True)
        port = _free_port()
        env = {
            k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}
        }
        env.update(PORT=str(port), PIP_NO_CACHE_DIR="1")
        started = time.monotonic()
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=folder,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        installed = None
        try:
            while time.monotonic() - started < 900:
                if installed is None and (folder / ".venv" / ".installed").exists():
                    installed = time.monotonic() - started
                if _answers(port):
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"make run exited with {proc.returncode} for {ref}")
                time.sleep(0.25)
            answered = time.monotonic() - started
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=120)
        return {"install_s": installed or float("nan"), "answered_s": answered}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--abba"]
    abba = "--abba" in sys.argv[1:]
    old = args[0] if args else OLD_DEFAULT
    new = args[1] if len(args) > 1 else "HEAD"
    new = subprocess.run(
        ["git", "rev-parse", "--short", new], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    # --abba: old, new, new, old; a load that rises or falls steadily during the runs weighs on both alike
    order = (old, new, new, old) if abba else (old, new)
    runs: list[tuple[str, dict[str, float], float]] = []
    for ref in order:
        figures = first_run(ref)
        runs.append((ref, figures, os.getloadavg()[0]))
    print(f"{'commit':<10} {'install s':>10} {'answered s':>11} {'load after':>11}")
    for ref, figures, load in runs:
        print(f"{ref:<10} {figures['install_s']:>10.1f} {figures['answered_s']:>11.1f} {load:>11.1f}")
    total = {ref: sum(f["answered_s"] for r, f, _ in runs if r == ref) for ref in (old, new)}
    print(f"new / old time to first answer: {total[new] / total[old]:.2f} (goal < 0.50)")


if __name__ == "__main__":
    main()
