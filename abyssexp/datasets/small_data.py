"""Below these counts a number is too thin to trust: warned about once, and kept with the result.

The thresholds are the ones ``docs/data.md`` documents: a class with fewer than
``MIN_TRAIN_PER_CLASS`` training images barely trains, a class with fewer than
``MIN_EVAL_PER_CLASS`` validation or test images gives a per-class metric that moves by 20 points
or more with one image, and a test set under ``MIN_TEST_IMAGES`` images gives an accuracy whose
95 % interval is wider than ±15 points.
"""

from __future__ import annotations

#: Fewer training images than this in a class: a small-data warning.
MIN_TRAIN_PER_CLASS = 10
#: Fewer validation (or test) images than this in a class: a small-data warning.
MIN_EVAL_PER_CLASS = 5
#: Fewer test images than this in all: a small-data warning (``test``).
MIN_TEST_IMAGES = 30
