"""Headless Chromium (Debian's `chromium` package) driven by Playwright, for the web tests.

Playwright's own browser downloads are never used (`executable_path`). The flags keep Chromium
from reaching out to the network (background updates, sync), which this machine refuses.
"""

import contextlib
import os
import shutil
import tempfile

CHROMIUM = os.environ.get("TF_STYLEGAN_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def chromium_context():
    """Yields a fresh Playwright browser context (new profile directory each time)."""
    from playwright.sync_api import sync_playwright

    if not os.path.isfile(CHROMIUM):
        raise FileNotFoundError(f"{CHROMIUM} not found: install Debian's chromium "
                                "(.ci/run does: apt-get install -y chromium)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1100, "height": 700}, accept_downloads=True)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
