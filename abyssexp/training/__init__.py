"""Training: optimizers, schedules, losses, callbacks and the ``abyssexp train`` run."""
