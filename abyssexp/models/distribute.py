"""One GPU or several on one machine (``MirroredStrategy``). ``batch_size`` is the global batch,
split across replicas.

Several machines for one model are refused up front: Keras 3's ``fit`` fails under
``tf.distribute.MultiWorkerMirroredStrategy`` (keras-team/keras#20585). Many runs at once are the
way to use a cluster (see docs/scaling.md).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from abyssexp.errors import ExperimentStateError, InvalidInputError

if TYPE_CHECKING:
    import tensorflow as tf

MULTIWORKER_UNAVAILABLE = (
    "TF_CONFIG is set, but multi-worker training is not available: Keras 3's fit fails under "
    "tf.distribute.MultiWorkerMirroredStrategy (keras-team/keras#20585, open since TensorFlow "
    "2.16). Train on one machine (--gpus N uses MirroredStrategy), or unset TF_CONFIG"
)


def refuse_multi_worker() -> None:
    """Refuse multi-worker runs before anything starts rather than crash inside Keras."""
    if os.environ.get("TF_CONFIG"):
        raise ExperimentStateError(MULTIWORKER_UNAVAILABLE)


def make_strategy(gpus: int) -> tf.distribute.Strategy:
    """The distribution strategy for ``gpus`` GPUs on this machine (0: CPU only)."""
    import tensorflow as tf

    refuse_multi_worker()
    available = tf.config.list_logical_devices("GPU")
    if gpus > 1:
        if len(available) < gpus:
            raise InvalidInputError(
                f"training.gpus={gpus} but this machine has {len(available)} GPU(s); lower it"
            )
        return tf.distribute.MirroredStrategy([d.name for d in available[:gpus]])
    if gpus == 0 and available:
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    return tf.distribute.get_strategy()
