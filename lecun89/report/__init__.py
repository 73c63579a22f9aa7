"""Reports: the report of one run beside the paper's figures, and a sweep's summary.

- :mod:`lecun89.report.run`: ``report.md``, ``report.json`` and ``report-*.png`` of a run;
- :mod:`lecun89.report.sweep`: ``summary.md``, ``summary.json`` and
  ``summary-test-error.png`` over a sweep's runs (mean +- std over seeds);
- :mod:`lecun89.report.figures`, :mod:`lecun89.report.format`: the figures and
  the number formats both use; :mod:`lecun89.report.references`: the
  reference figures (``lecun89/references.json``).

Run directories are read by :mod:`lecun89.rundir`.
"""

from lecun89.report.references import load_references, references_for
from lecun89.report.run import OWN_FILES, REPORT_JSON, REPORT_MD, report_run
from lecun89.report.sweep import SORT_KEYS, check_sort, report_sweep
from lecun89.rundir import find_runs, read_run

find_sweep_runs = find_runs  # the name scripts and tests have used

__all__ = ["OWN_FILES", "REPORT_JSON", "REPORT_MD", "SORT_KEYS", "check_sort", "find_runs", "find_sweep_runs",
           "load_references", "read_run", "references_for", "report_run", "report_sweep"]
