"""Shared pytest fixtures.

``data_dir``: where the data sets live (lecun89.testing.resolve_data_dir):
``$LECUN89_DATA`` if set, else ``<repo>/../shared/data`` (the layout of the
project's workspace). Tests that need a data file skip, with the path in the
reason, when it is absent. What tests import (helpers, the repository root) is
in lecun89.testing: tests do not import conftest.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lecun89.testing import CHROMIUM, resolve_data_dir

# The suite checks each engine where it names it: a machine-wide engine choice
# (README, Speed) would change what the other tests run. Subprocesses inherit this.
os.environ.pop("LECUN89_ENGINE", None)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = resolve_data_dir()
    if not path.is_dir():
        how = "$LECUN89_DATA" if os.environ.get("LECUN89_DATA") else "<repo>/../shared/data (set LECUN89_DATA to override)"
        pytest.skip(f"data directory {path} not found ({how})")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (the browser tests'; they
    skip where Playwright or the browser is missing or does not start)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        except sync_api.Error as exc:
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {str(exc).splitlines()[0]}")
        try:
            yield b
        finally:
            b.close()
