"""Where this lecun89 runs from: a git checkout (and which commit) or an installed package."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from lecun89.version import __version__


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=1)
def source() -> dict:
    """``install``: "checkout" (the package sits in the project's source tree) or
    "package" (installed from a wheel or sdist); ``git_commit`` and ``git_dirty``
    (tracked files changed since it) for a checkout that git can read."""
    root = Path(__file__).resolve().parent.parent
    if not ((root / "pyproject.toml").is_file() and (root / "configs").is_dir()):
        return {"version": __version__, "install": "package", "git_commit": None, "git_dirty": None}
    commit = _git(root, "rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    return {"version": __version__, "install": "checkout", "git_commit": commit, "git_dirty": dirty}


def version_line() -> str:
    s = source()
    if s["install"] == "package":
        return f"lecun89 {__version__} (installed package)"
    if s["git_commit"] is None:
        return f"lecun89 {__version__} (source checkout, git commit unknown)"
    return f"lecun89 {__version__} (checkout, git {s['git_commit'][:12]}{', with local changes' if s['git_dirty'] else ''})"
