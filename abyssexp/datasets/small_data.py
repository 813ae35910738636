"""Below these counts a number says little: the thresholds of the small-data warnings.

One home for them, so ``data check``, ``new`` and ``test`` warn at the same counts and
docs/reading-the-numbers.md can cite them.
"""

#: Fewer training images than this in a class: the model has little to learn that class from.
MIN_TRAIN_PER_CLASS = 10
#: Fewer validation or test images than this in a class: its recall moves in steps of 20 % or more.
MIN_EVAL_PER_CLASS = 5
#: Fewer test images than this in all: a 95 % interval on accuracy is wider than about ±0.15.
MIN_TEST_IMAGES = 30
