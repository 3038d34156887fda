"""Headless Chromium driven by Playwright: the page's screenshot (`generate.py web
--screenshot`) and the browser tests.

Which Chromium, first found wins:
1. `TF_STYLEGAN_CHROMIUM`, when set (an error if it names no file);
2. Debian's `chromium` package, `/usr/bin/chromium`;
3. the headless Chromium inside the npm package `@sparticuz/chromium` (pinned in package.json,
   installed into `node_modules` by `make install`'s `npm ci`). The package ships it
   brotli-compressed; its `executablePath()` decompresses it once into a folder of the system's
   temporary directory, `$TMPDIR/tf-stylegan-chromium-<version>-<uid>/chromium` here (about
   220 MB), which later runs reuse.

Playwright's own browser downloads are never used (`executable_path`). The flags keep Chromium
from reaching out to the network (background updates, sync), which a closed network refuses.
"""

import contextlib
import functools
import json
import os
import shutil
import subprocess
import tempfile

from tf_stylegan.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEBIAN_CHROMIUM = "/usr/bin/chromium"
NPM_PACKAGE = os.path.join(ROOT, "node_modules", "@sparticuz", "chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
MISSING = ("no Chromium found: run `make install` (its `npm ci` installs @sparticuz/chromium "
           "into node_modules; needs Node.js and npm), or install Debian's chromium (apt-get "
           "install chromium), or set TF_STYLEGAN_CHROMIUM to a Chromium executable")
# The package's own executablePath(), run with TMPDIR pointed at a fresh folder: it writes the
# browser to <TMPDIR>/chromium and prints that path.
_INFLATE = 'import C from "@sparticuz/chromium"; console.log(await C.executablePath());'


def npm_chromium():
    """Path of the decompressed @sparticuz/chromium executable, or None when the package or
    Node.js is missing. Decompresses at most once per machine and version; the folder appears
    complete or not at all (decompressed in a fresh folder, then renamed), so an interrupted
    run or a second process never sees half a binary."""
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
            except OSError:  # another process renamed its own copy first: use that one
                if not os.path.isfile(os.path.join(final, "chromium")):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return os.path.join(final, "chromium")


@functools.cache
def chromium_executable():
    """The Chromium to run (see the module docstring), found once per process.

    Raises:
        UserError: none is available (the message says what to install).
    """
    chosen = os.environ.get("TF_STYLEGAN_CHROMIUM")
    if chosen:
        if not os.path.isfile(chosen):
            raise UserError(f"TF_STYLEGAN_CHROMIUM={chosen}: no such file")
        return chosen
    if os.path.isfile(DEBIAN_CHROMIUM):
        return DEBIAN_CHROMIUM
    found = npm_chromium()
    if found is None:
        raise UserError(MISSING)
    return found


@contextlib.contextmanager
def chromium_context(viewport=(1100, 700)):
    """Yields a fresh Playwright browser context (new profile directory each time)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=executable, headless=True, args=FLAGS,
                viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_rendered(page, timeout_ms=120_000):
    """Waits until the page's worker has drawn the image the controls ask for."""
    page.wait_for_function(
        "() => { const c = document.getElementById('canvas');"
        " return c.dataset.rendered === c.dataset.pending"
        " && document.body.dataset.state === 'ready'; }", timeout=timeout_ms)


def screenshot_site(site_dir, out_png, seed=None, class_index=None, grid=None):
    """Serves a site of `generate.py web` on a free local port, opens it in headless Chromium,
    sets the seed, class and grid when given, waits for the image and writes a screenshot of
    the page to `out_png` (atomically). Returns `out_png`."""
    from apps.web.server import serve, url
    from tf_stylegan.files import atomic_path

    server = serve(site_dir, port=0)
    try:
        with chromium_context() as context:
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url(server))
            page.wait_for_selector("body[data-state=ready]", timeout=120_000)
            for selector, value in (("#seed", seed), ("#class", class_index),
                                    ("#grid", grid)):
                if value is None:
                    continue
                if selector == "#seed":
                    page.fill(selector, str(value))
                else:
                    page.select_option(selector, str(value))
                wait_rendered(page)
            wait_rendered(page)
            if errors:
                raise RuntimeError(f"the page reported errors: {errors}")
            with atomic_path(os.fspath(out_png)) as tmp:
                page.screenshot(path=tmp, type="png")
    finally:
        server.shutdown()
        server.server_close()
    return out_png
