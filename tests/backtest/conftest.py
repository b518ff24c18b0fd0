"""Backtest tests keep the decoded-snapshot cache in a temporary directory, never in the user's home."""
import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _backtest_cache_dir(tmp_path_factory):
    old = os.environ.get("HLMM_CACHE_DIR")
    os.environ["HLMM_CACHE_DIR"] = str(tmp_path_factory.mktemp("hlmm-cache"))
    yield
    if old is None:
        os.environ.pop("HLMM_CACHE_DIR", None)
    else:
        os.environ["HLMM_CACHE_DIR"] = old
