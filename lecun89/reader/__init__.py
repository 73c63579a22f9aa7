"""The reader: a person's picture of a digit, or of a row of digits, read by a trained network.

A picture's way, stage by stage, one module each:

1. :mod:`~lecun89.reader.gray`: the file's gray levels (alpha, EXIF turn, size limits), and its colours;
   :mod:`~lecun89.reader.furniture`: ruled or squared paper's lines, a margin line, a form's box whitened
   (:mod:`~lecun89.reader.tilt`: the page's tilt);
2. :mod:`~lecun89.reader.ink`: the ink, told apart from the paper and its light;
3. :mod:`~lecun89.reader.segment`: a row's ink over-segmented into a graph of candidate
   digits (:mod:`~lecun89.reader.pieces`: its pieces of connected ink);
4. :mod:`~lecun89.reader.fit`: each digit deslanted and fitted to 16x16 in [-1, 1];
5. :mod:`~lecun89.reader.network`: the network's reading, with the paper's rejection
   (a row's: the cheapest path through its graph).

:mod:`~lecun89.reader.pipeline` runs the stages in that order (a digit:
:func:`read_digit`; a row: :func:`read_row_file`); :mod:`~lecun89.reader.models`
loads the shipped models and run checkpoints; :mod:`~lecun89.reader.show`
draws ``--show``'s picture; :mod:`~lecun89.reader.heldout` writes the
held-out-writers benchmark's pictures (``scripts/heldout.py``).
"""

from lecun89.reader.fit import SIZE, fit_16, slant, upright
from lecun89.reader.furniture import Cleaned, remove_furniture
from lecun89.reader.gray import MAX_PIXELS, TooLarge, gray_levels, image_gray, read_gray
from lecun89.reader.ink import BACKGROUND_DEGREE, INK_THRESHOLD, ink_map
from lecun89.reader.models import DEFAULT_MODEL, SHIPPED, Model, heldout_errors, load_model, models_dir, shipped_models
from lecun89.reader.network import analyse, analyse_row
from lecun89.reader.pieces import ASPECT, WIDE, find_digits
from lecun89.reader.pipeline import (READER_VERSION, Digit, digit_from_gray, digit_from_ink, read_digit, read_row,
                                     read_row_file, row_graph)
from lecun89.reader.show import save_preprocessing

__all__ = ["ASPECT", "BACKGROUND_DEGREE", "Cleaned", "DEFAULT_MODEL", "Digit", "INK_THRESHOLD", "MAX_PIXELS", "Model",
           "READER_VERSION", "SHIPPED", "SIZE", "TooLarge", "WIDE", "analyse", "analyse_row", "digit_from_gray",
           "digit_from_ink", "find_digits", "fit_16", "gray_levels", "heldout_errors", "image_gray", "ink_map",
           "load_model", "models_dir", "read_digit", "read_gray", "read_row", "read_row_file", "remove_furniture",
           "row_graph", "save_preprocessing",
           "shipped_models", "slant", "upright"]
