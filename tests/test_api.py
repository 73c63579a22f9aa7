"""The Python API (``import lecun89``): its docstring examples run as tests."""

from __future__ import annotations

import doctest
from pathlib import Path

import lecun89

REPO = Path(__file__).resolve().parent.parent


def test_the_api_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the examples read docs/seven.png
    fixtures = {"tmp_path": tmp_path}
    result = doctest.testmod(lecun89, extraglobs={"getfixture": fixtures.__getitem__}, verbose=False,
                             optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted >= 10  # every example ran


def test_the_api_is_what_help_shows():
    assert sorted(lecun89.__all__) == ["build_model", "fit", "load_checkpoint", "load_config", "load_dataset",
                                       "load_model", "read_digit"]
    for name in lecun89.__all__:
        assert callable(getattr(lecun89, name)) and getattr(lecun89, name).__doc__, name
