"""Studies: many runs from one file, run on this machine or on a Dask cluster.

- :mod:`~lecun89.studies.spec`: a study file (configs x a grid of overrides x
  variants x seeds) read and checked into its planned runs;
- :mod:`~lecun89.studies.sweep`: running a study's runs (skipping finished
  ones, resuming partial ones) and writing its summary (``lecun89 sweep``);
- :mod:`~lecun89.studies.executors`: where the runs run: ``local`` processes
  or a ``dask`` cluster.
"""

_EXPORTS = {"EXECUTORS": "executors", "PlannedRun": "spec", "Study": "spec", "find_study": "spec",
            "plain_study": "spec", "read_study": "spec", "shipped_studies": "spec", "load_study": "sweep",
            "run_status": "sweep", "run_study": "sweep", "write_summary": "sweep"}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    # Imported when first asked for: ``lecun89 --help`` reads EXECUTORS through
    # lecun89.studies.executors without loading the configs and data behind the others.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"lecun89.studies.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lecun89.studies' has no attribute {name!r}")
