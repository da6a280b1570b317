import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audiences.engine.generator import generate

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# How long a browser step may wait for what a person would see (a swap, a page, an estimate). Only a failing
# step waits that long; a machine loaded by other runs (load 10+ on 2 cores) needs more than Playwright's 5 s
# for `expect` and more than the 15 s used before.
BROWSER_TIMEOUT_MS = 45_000
expect.set_options(timeout=BROWSER_TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt: chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    # Playwright evaluates string predicates (wait_for_function("...")) with eval inside the page, which the
    # Content-Security-Policy forbids; tests/e2e/test_csp.py walks the pages with the policy enforced.
    context = browser.new_context(base_url=live_server.url, accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    yield page
    context.close()


def use_data(settings, root: Path, media: Path) -> Path:
    """Points the default dataset, the allowed roots and the media root (downloads, export files) at `root`'s
    folders (a worker started afterwards inherits them through tests.conftest.worker_env)."""
    settings.DELIVR_DEMO_DATA = root
    settings.DELIVR_DATA_ROOTS = [str(root.parent)]
    settings.MEDIA_ROOT = media
    return root


@pytest.fixture
def intent_data(request, settings, tmp_path_factory, tmp_path) -> Path:
    """A small intent tree of the test's own, generated with the GenerateParams of its `intent_data` marker, as
    the default dataset (see `use_data`)."""
    marker = request.node.get_closest_marker("intent_data")
    if marker is None:
        pytest.fail(
            f"{request.node.nodeid}: intent_data needs @pytest.mark.intent_data(params)", pytrace=False
        )
    root = tmp_path_factory.mktemp("e2e-data") / "intent"
    generate(str(root), marker.args[0])
    return use_data(settings, root, tmp_path / "media")


@pytest.fixture
def worker(intent_data, celery_worker_process):
    """A real Celery worker, started once the test's data is in place (the worker reads it at its start)."""
    return celery_worker_process


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, email: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
