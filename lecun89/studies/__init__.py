"""Studies: many runs from one file, run on this machine or on a Dask cluster.

- :mod:`~lecun89.studies.spec`: a study file (configs x a grid of overrides x
  variants x seeds) read and checked into its planned runs;
- :mod:`~lecun89.studies.sweep`: running a study's runs (skipping finished
  ones, resuming partial ones) and writing its summary (``lecun89 sweep``);
- :mod:`~lecun89.studies.executors`: where the runs run: ``local`` processes
  or a ``dask`` cluster.
"""

from lecun89.studies.executors import EXECUTORS
from lecun89.studies.spec import PlannedRun, Study, find_study, plain_study, read_study, shipped_studies
from lecun89.studies.sweep import load_study, run_status, run_study, write_summary

__all__ = ["EXECUTORS", "PlannedRun", "Study", "find_study", "load_study", "plain_study", "read_study", "run_status",
           "run_study", "shipped_studies", "write_summary"]
