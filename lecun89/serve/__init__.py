"""``lecun89 serve``: a local web page to draw a digit and watch the network read it.

The page (``lecun89/web/``: plain HTML, JS and CSS, no build step, nothing
fetched from the internet) sends the drawing as a PNG while the person draws;
this server reads it as :mod:`lecun89.reader` reads any image (ink,
deslanted, bounding box fitted into 16x16, gray levels in [-1, 1]) and answers with what
:func:`lecun89.reader.analyse` gives: the 16x16 input, every layer's units
(H1 12x8x8, H2 12x4x4, H3 30, out 10), the decision, the gap between the top
two outputs and the rejection threshold. A second tab walks through the USPS
test set, the network's mistakes first.

The JSON API (every error is a 4xx/5xx with ``{"error": "..."}``):

- ``GET /api/models``: ``{"default": name, "models": [...], "row_digits": bool}``, each model's
  :meth:`lecun89.reader.Model.describe` (``name``, ``description``, ``threshold``,
  ``test_error``, ``rejection_at_1pct``, ``heldout``, ``outputs``, ``layers``) plus
  ``shapes`` (layer name -> the shape of its units).
- ``POST /api/predict`` with ``{"model"?: name}`` and one of
  ``"png": "data:image/png;base64,..."`` (any drawing or picture),
  ``"pixels": [[...]]`` (ink in [0, 1], 0 background) or ``"x16": [[...]]``
  (the network's input, 16x16 in [-1, 1]): ``analyse()`` of the digit plus
  ``"blank": false`` and ``"ranges"`` (the display range of every layer), or
  ``{"blank": true, ...}`` for a drawing without ink. ``"image": "data:image/...;base64,..."``
  is a person's picture (PNG, JPEG, WebP, GIF or BMP, at most 2048x2048 pixels),
  read as ``lecun89 predict FILE`` reads the same file; its answer adds
  ``"picture": {"width", "height"}`` (as read, after its EXIF turn) and, when
  the reader removes page furniture, ``"removed"`` (what was found)
  and ``"removed_mask"`` (a PNG, red where pixels were removed). With
  ``"row": true`` (and ``png`` or ``image``), the picture is a row of digits
  (:mod:`lecun89.reader`): the answer is :func:`lecun89.reader.analyse_row`
  (``digits``, ``rejected``, ``per_digit`` with each digit's ``box`` and 16x16
  ``input``, and whatever else the reader gives: ``cuts``, ``runner_up``,
  ``reason``) plus ``"row": true``; ``"digits"`` (5, or [5, 9]) is passed on
  as the row's digit count when the reader takes one (``/api/models``'s
  ``row_digits``), a 400 otherwise.
  With ``"session": id`` (not with ``"row"``), the digit is read by that
  learning session's network (below) and the answer also carries ``"session"``.
- ``POST /api/backprop`` with the image fields of ``/api/predict``, an optional
  ``"model"`` and ``"label"`` (0-9): :func:`lecun89.explain.backprop.backward_view` as
  lists: ``outputs``, ``loss``, ``delta`` (out, H3, H2, H1), ``grad`` (by name),
  plus ``model``, ``label``, ``loss_kind``, ``"blank": false``. With
  ``"session": id``: of that session's network (the answer carries ``"session"``).
- ``POST /api/unit`` with the fields of ``/api/backprop`` (``"session"``
  too) plus ``"layer"`` (H1, H2, H3 or out), ``"index"`` (``[map, row, col]``
  or ``[unit]``) and an optional ``"top"`` (0-64, default 8): the chain rule
  written out at that unit, :func:`lecun89.explain.chain.unit_terms` (``name``,
  ``forward``: the largest ``terms`` of inputs x weights, ``others``, ``bias``,
  ``a``, ``activation``, ``y``; ``backward``: the largest ``terms`` of weights x
  deltas above, ``others``, ``sum``, ``fprime``, ``delta``, or for an output
  unit ``dE/dy``, ``fprime``, ``delta``), plus ``model`` and ``label``. A unit
  outside the layer is a 400. The page's hover box shows it.
- ``POST /api/learn`` with the image fields of ``/api/predict``, ``"label"``
  (0-9), an optional ``"model"`` and an optional ``"session"`` (an id from an
  earlier answer; without it a new session starts from the model's shipped
  weights): one step of the model's own optimizer (its config's ``train``
  section: SGD, SDLM or AdamW, its loss and hyper-parameters; the defaults of
  :mod:`lecun89.config` for a model without a config) on this one digit and
  label, at the learning rate of the config's first pass
  (``optim.lr_at(train, 0)``), dropout off, on the session's private copy of
  the network (:mod:`lecun89.explain.learn`; never the shared model nor the files).
  SDLM's running estimator (``lecun1989``) keeps its h across the session's
  steps, starting from 0 as training does. Answer: ``blank`` (false),
  ``session``, ``model``, ``label``, ``step`` (1 on the first), ``optimizer``,
  ``lr``, ``lr_from`` (where the rate comes from, in words), ``loss_kind``,
  ``outputs_before`` and ``outputs_after`` (10 each), ``loss_before`` and
  ``loss_after`` (the model's training cost, as ``/api/backprop``'s ``loss``),
  ``moved`` (``{"H1": [12], "H2": [12]}``: per map, the norm of its 5x5
  kernel's change in this step, summed over the maps it reads for H2) and
  ``most_moved`` (``{"H1": map, "H2": map}``). A drawing without ink takes no
  step: ``{"blank": true, "model", "message", "session": id or null}``.
- ``POST /api/reset`` with ``{"session": id}``: forgets the session,
  ``{"session": id, "reset": true}``.

  Sessions: at most ``max_sessions`` (:data:`~lecun89.serve.learning.MAX_SESSIONS`)
  per server, the least recently used dropped first. An unknown, reset or
  dropped session is a 404 ``{"error": "unknown session ..."}`` (learn, reset,
  predict, backprop); a ``"model"`` other than the session's is a 400.
- The Train tab (:mod:`lecun89.serve.training`: one background run a server,
  held by the page that started it, watched by any): ``GET /api/train/configs``;
  ``POST /api/train/start`` ``{"config", "seed"?, "pace"?, "owner"?}`` (409
  ``busy`` while another page holds a run; the answer's ``owner`` is the
  holder's token); ``GET /api/train?since=K&owner=T`` (``run``, ``points``
  from the K-th, ``npoints``, ``snapshot``, ``model``, ``results``; with K = 0
  also ``strip`` and ``references``); ``POST /api/train/stop``, ``continue``
  (``"passes"?``), ``save``, ``leave``, ``drop`` with ``{"owner"}`` (403 for
  another page's token). When a run stops or ends, a copy of its network is the
  model ``trained`` of every route above.
- ``GET /api/testset?model=NAME``: the USPS test digits in the page's order,
  misclassified first (index order within each part): ``order``, ``labels``,
  ``predictions``, ``rejected``, ``n``, ``errors``.
- ``GET /api/testset/<i>?model=NAME``: ``analyse()`` of test digit ``i`` plus
  ``index``, ``label``, ``correct``, ``ranges``.

The package, one job a module: :mod:`~lecun89.serve.images` (the image
fields read into the 16x16 input), :mod:`~lecun89.serve.app` (the models, the
test set, what each route computes), :mod:`~lecun89.serve.learning` (the
learning sessions), :mod:`~lecun89.serve.training` and
:mod:`~lecun89.serve.snapshot` (the Train tab), :mod:`~lecun89.serve.server` (HTTP: the handler, the
server, binding); ``_base.py`` holds :class:`ApiError`.
"""

from lecun89.serve._base import ApiError
from lecun89.serve.app import App, display_ranges
from lecun89.serve.images import (IMAGE_READERS, MAX_CANVAS_PIXELS, SIZE, check_x16, image_to_16, image_to_picture,
                                  pixels_to_16, png_to_16, png_to_gray, png_to_row)
from lecun89.serve.learning import MAX_SESSIONS, Session, Sessions
from lecun89.serve.server import (CONTENT_TYPES, CSP, DEFAULT_HOST, DEFAULT_PORT, DRAIN_LIMIT, MAX_BODY, Handler,
                                  Server, make_server)

__all__ = ["App", "ApiError", "CONTENT_TYPES", "CSP", "DEFAULT_HOST", "DEFAULT_PORT",
           "DRAIN_LIMIT", "Handler", "IMAGE_READERS", "MAX_BODY", "MAX_CANVAS_PIXELS", "MAX_SESSIONS", "SIZE", "Server",
           "Session", "Sessions",
           "check_x16", "display_ranges", "image_to_16", "image_to_picture", "make_server", "pixels_to_16", "png_to_16", "png_to_gray", "png_to_row"]
