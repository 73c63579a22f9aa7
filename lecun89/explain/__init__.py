"""What the page explains: backprop on one digit, the chain rule at one unit, one learning step.

- :mod:`~lecun89.explain.backprop`: the backward pass of one digit, layer by
  layer: each layer's error signal and every gradient (``POST /api/backprop``);
- :mod:`~lecun89.explain.chain`: the chain rule written out at one unit of
  Net-1989, its forward sum and its backward sum, term by term (``POST /api/unit``);
- :mod:`~lecun89.explain.learn`: one step of a model's own optimizer on one
  digit, on a private copy of its network (``POST /api/learn``).

Each computes with the network's own layers (:mod:`lecun89.layers`): nothing
here re-implements a forward or a backward pass.
"""

from lecun89.explain.backprop import as_lists, backward_view
from lecun89.explain.chain import unit_terms
from lecun89.explain.learn import Learner, kernel_change

__all__ = ["Learner", "as_lists", "backward_view", "kernel_change", "unit_terms"]
