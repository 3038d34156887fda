"""The choice of Chromium (apps/web/browser.py) for the page's screenshot and the browser
tests (tests/apps/browser.py)."""

import os
import subprocess

import pytest

from apps.web import browser
from tests.apps import browser as test_browser
from tf_stylegan.errors import UserError


@pytest.fixture
def fresh_choice(monkeypatch):
    monkeypatch.delenv("TF_STYLEGAN_CHROMIUM", raising=False)
    browser.chromium_executable.cache_clear()
    yield
    browser.chromium_executable.cache_clear()


def test_no_chromium_anywhere_fails_with_one_line_naming_what_to_install(
        fresh_choice, monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "DEBIAN_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setattr(browser, "NPM_PACKAGE", str(tmp_path / "no-package"))
    with pytest.raises(UserError) as info:
        browser.chromium_executable()
    message = str(info.value)
    assert "\n" not in message
    assert "make install" in message and "@sparticuz/chromium" in message
    assert "apt-get install chromium" in message
    # A test without a browser fails (never skips) with that line.
    browser.chromium_executable.cache_clear()
    with pytest.raises(pytest.fail.Exception, match="no Chromium for the browser tests.*make"):
        test_browser.chromium_executable()


def test_environment_variable_naming_no_file_fails(fresh_choice, monkeypatch, tmp_path):
    monkeypatch.setenv("TF_STYLEGAN_CHROMIUM", str(tmp_path / "nothing"))
    with pytest.raises(UserError, match="TF_STYLEGAN_CHROMIUM=.*no such file"):
        browser.chromium_executable()


def test_npm_chromium_runs_and_is_decompressed_once():
    """`make install` installs @sparticuz/chromium (package.json), so it is always there."""
    first = browser.npm_chromium()
    assert first is not None, "node_modules/@sparticuz/chromium or node missing: make install"
    assert os.access(first, os.X_OK)
    stamp = os.stat(first).st_mtime_ns
    assert browser.npm_chromium() == first
    assert os.stat(first).st_mtime_ns == stamp  # reused, not decompressed again
    version = subprocess.run([first, "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.startswith("Chromium 153."), version.stdout + version.stderr
