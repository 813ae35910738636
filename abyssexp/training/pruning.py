"""Per-epoch reports to an Optuna sweep's study, and stopping a trial its pruner prunes.

Only a trial of a ``--search optuna`` sweep with a pruner (``--pruner median``) gets the callback:
the experiment's record names its sweep, the sweep file its Optuna trial. Any other run never
imports Optuna. A pruned run ends with the status ``pruned`` and the reason in its record
(``abyssexp.training.run``); the slot that started it tells the study.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras

from abyssexp.experiment.layout import ExperimentPaths
from abyssexp.experiment.record_file import read_record

if TYPE_CHECKING:
    import optuna


class OptunaPruning(keras.callbacks.Callback):
    """Report ``metric`` after each epoch; when the pruner says so, stop training and say why
    in ``stop_flag["prune_reason"]``."""

    def __init__(
        self, trial: optuna.Trial, metric: str, stop_flag: dict[str, Any], pruner: str
    ) -> None:
        super().__init__()
        self.trial, self.metric, self.stop_flag, self.pruner = trial, metric, stop_flag, pruner

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return
        self.trial.report(float(value), step=epoch + 1)
        if self.trial.should_prune():
            self.stop_flag["prune_reason"] = (
                f"pruned by the {self.pruner} pruner after epoch {epoch + 1}: "
                f"{self.metric}={float(value):.4g}"
            )
            self.model.stop_training = True


def pruning_callback(paths: ExperimentPaths, stop_flag: dict[str, Any]) -> OptunaPruning | None:
    """The callback for an Optuna trial with a pruner, else None (without importing Optuna)."""
    sweep_ref = read_record(paths.record).sweep
    if not sweep_ref:
        return None
    from abyssexp.sweeps.trials import SweepLocation, load_sweep, sweep_file

    project_dir = paths.root.parent
    path = sweep_file(project_dir, sweep_ref.rsplit("/", 1)[-1])
    if not path.is_file():
        return None
    sweep = load_sweep(path)
    search = sweep.optuna
    if search is None or search.pruner is None:
        return None
    number = next((t.optuna_trial for t in sweep.trials if t.name == paths.name), None)
    if number is None:
        return None
    from abyssexp.sweeps.optuna_search import open_sweep_study
    from abyssexp.sweeps.optuna_study import trial_handle

    study = open_sweep_study(SweepLocation(path, sweep))
    return OptunaPruning(trial_handle(study, number), search.metric, stop_flag, search.pruner)
