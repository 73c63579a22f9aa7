"""lecun89: LeCun et al. 1989 (zip-code digits, Net-1989) in hand-written numpy backprop."""

__version__ = "0.1.0"
