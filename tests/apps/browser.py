"""The browser tests' Chromium: `apps.web.browser` (Debian's, or the npm package's), where a
missing browser fails the test with the one line saying what to install."""

import contextlib

import pytest

from apps.web import browser
from tf_stylegan.errors import UserError

FLAGS = browser.FLAGS
npm_chromium = browser.npm_chromium


def chromium_executable():
    """The Chromium the browser tests run (`apps.web.browser.chromium_executable`)."""
    try:
        return browser.chromium_executable()
    except UserError as e:
        pytest.fail(f"no Chromium for the browser tests: {e}", pytrace=False)


@contextlib.contextmanager
def chromium_context():
    """Yields a fresh Playwright browser context (new profile directory each time)."""
    chromium_executable()
    with browser.chromium_context() as context:
        yield context
