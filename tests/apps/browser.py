"""Headless Chromium driven by Playwright, for the web tests.

Which Chromium, first found wins:
1. `TF_STYLEGAN_CHROMIUM`, when set (an error if it names no file);
2. Debian's `chromium` package, `/usr/bin/chromium`;
3. the headless Chromium inside the npm package `@sparticuz/chromium` (pinned in package.json,
   installed into `node_modules` by `make install`'s `npm ci`). The package ships it
   brotli-compressed; its `executablePath()` decompresses it once into a folder of the system's
   temporary directory, `$TMPDIR/tf-stylegan-chromium-<version>-<uid>/chromium` here (about
   220 MB), which later sessions reuse.

Playwright's own browser downloads are never used (`executable_path`). The flags keep Chromium
from reaching out to the network (background updates, sync), which this machine refuses.
"""

import contextlib
import functools
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from tests.paths import ROOT

DEBIAN_CHROMIUM = "/usr/bin/chromium"
NPM_PACKAGE = os.path.join(ROOT, "node_modules", "@sparticuz", "chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
MISSING = ("no Chromium for the browser tests: run `make install` (its `npm ci` installs "
           "@sparticuz/chromium into node_modules; needs Node.js and npm), or install Debian's "
           "chromium (apt-get install chromium), or set TF_STYLEGAN_CHROMIUM to a Chromium "
           "executable")
# The package's own executablePath(), run with TMPDIR pointed at a fresh folder: it writes the
# browser to <TMPDIR>/chromium and prints that path.
_INFLATE = 'import C from "@sparticuz/chromium"; console.log(await C.executablePath());'


def npm_chromium():
    """Path of the decompressed @sparticuz/chromium executable, or None when the package or
    Node.js is missing. Decompresses at most once per machine and version; the folder appears
    complete or not at all (decompressed in a fresh folder, then renamed), so an interrupted
    run or a second test process never sees half a binary."""
    manifest = os.path.join(NPM_PACKAGE, "package.json")
    node = shutil.which("node")
    if node is None or not os.path.isfile(manifest):
        return None
    with open(manifest) as f:
        version = json.load(f)["version"]
    tmp = tempfile.gettempdir()
    final = os.path.join(tmp, f"tf-stylegan-chromium-{version}-{os.getuid()}")
    if not os.path.isfile(os.path.join(final, "chromium")):
        staging = tempfile.mkdtemp(prefix=os.path.basename(final) + ".partial-", dir=tmp)
        try:
            out = subprocess.run([node, "--input-type=module", "-e", _INFLATE], cwd=ROOT,
                                 env={**os.environ, "TMPDIR": staging}, check=True,
                                 capture_output=True, text=True, timeout=300)
            printed = out.stdout.strip().splitlines()[-1]
            if os.path.dirname(printed) != staging:
                raise RuntimeError(f"@sparticuz/chromium put its browser at {printed}, "
                                   f"not in {staging}")
            try:
                os.rename(staging, final)
            except OSError:  # another test process renamed its own copy first: use that one
                if not os.path.isfile(os.path.join(final, "chromium")):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(final, "chromium")


@functools.cache
def chromium_executable():
    """The Chromium the browser tests run (see the module docstring); fails the test with one
    line saying what to install when there is none. Computed once per test process."""
    chosen = os.environ.get("TF_STYLEGAN_CHROMIUM")
    if chosen:
        if not os.path.isfile(chosen):
            pytest.fail(f"TF_STYLEGAN_CHROMIUM={chosen}: no such file", pytrace=False)
        return chosen
    if os.path.isfile(DEBIAN_CHROMIUM):
        return DEBIAN_CHROMIUM
    found = npm_chromium()
    if found is None:
        pytest.fail(MISSING, pytrace=False)
    return found


@contextlib.contextmanager
def chromium_context():
    """Yields a fresh Playwright browser context (new profile directory each time)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=executable, headless=True, args=FLAGS,
                viewport={"width": 1100, "height": 700}, accept_downloads=True)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
