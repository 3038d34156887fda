"""Paths shared by the tests (no side effects on import)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CI clones the repository with `shared/` beside it; TF_STYLEGAN_SHARED overrides that.
SHARED = os.environ.get("TF_STYLEGAN_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
FIXTURES = os.path.join(SHARED, "fixtures")
