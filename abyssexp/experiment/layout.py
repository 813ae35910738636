"""Folder and file names of an experiment, as the original team's guide lays them out.

```
<scratch>/<project>/<experiment-type>/<NNN>.<dataset-info>.<info>...
├── datasets/   coco.train.json, coco.val.json, make-datasets.sh
├── logs/       TensorBoard events, history.csv, provenance.json, git.diff,
│               .summary.json (what `compare` needs from history and provenance)
├── models/     params.json, model_definition.json, model_<epoch>.keras, best.keras
├── testing/    <condition>/ with coco.test.json, metrics.json, predictions.json, plots
├── readme.txt
└── record.json (status, number, parent, epochs, best metric, tests, promotion)
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from abyssexp.experiment.checkpoints import BEST_CHECKPOINT, RECOVERY_CHECKPOINT, checkpoint_name
from abyssexp.schemas.results import METRICS_FILE as METRICS_FILE
from abyssexp.schemas.results import PREDICTIONS_FILE as PREDICTIONS_FILE

DATASETS_DIR = "datasets"
LOGS_DIR = "logs"
MODELS_DIR = "models"
TESTING_DIR = "testing"
EXPORTS_DIR = "exports"
THRESHOLDS_FILE = "thresholds.json"  # per-class thresholds of best.keras (sigmoid models)
README_FILE = "readme.txt"
RECORD_FILE = "record.json"
PARAMS_FILE = "params.json"
MODEL_DEFINITION_FILE = "model_definition.json"
TRAIN_COCO = "coco.train.json"
VAL_COCO = "coco.val.json"
TEST_COCO = "coco.test.json"
MAKE_DATASETS = "make-datasets.sh"
PROVENANCE_FILE = "provenance.json"
GIT_DIFF_FILE = "git.diff"
REQUIREMENTS_FILE = "requirements.txt"
HISTORY_FILE = "history.csv"
#: logs/.summary.json: a fingerprinted copy of what `compare` reads from history and provenance.
SUMMARY_FILE = ".summary.json"  # hidden: a derived copy, not one of the results
TRAIN_LOCK_FILE = ".train.lock"
TRAIN_STATE_FILE = "train_state.json"
CLASS_NAMES_FILE = "class_names.json"
CATEGORY_MAP_FILE = "category_map.json"
CLAIMS_DIR = ".claims"
#: `<scratch>/<project>/<type>/.sweeps/<id>.json`: the sweeps of an experiment type.
SWEEPS_DIR = ".sweeps"
SLURM_SCRIPT_FILE = "slurm.sh"  # in logs/: the job script of `train --on slurm`
#: `<scratch>/.archive/<project>/<type>/<name>`: hidden from `list`, shown by `list --archived`.
ARCHIVE_DIR = ".archive"


@dataclass(frozen=True)
class ExperimentPaths:
    """Every path inside one experiment folder."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def scratch(self) -> Path:
        """The scratch root the experiment lives in (``<scratch>/<project>/<type>/<name>``)."""
        return self.root.parents[2]

    @property
    def datasets(self) -> Path:
        return self.root / DATASETS_DIR

    @property
    def logs(self) -> Path:
        return self.root / LOGS_DIR

    @property
    def models(self) -> Path:
        return self.root / MODELS_DIR

    @property
    def testing(self) -> Path:
        return self.root / TESTING_DIR

    @property
    def readme(self) -> Path:
        return self.root / README_FILE

    @property
    def record(self) -> Path:
        return self.root / RECORD_FILE

    @property
    def params(self) -> Path:
        return self.models / PARAMS_FILE

    @property
    def model_definition(self) -> Path:
        return self.models / MODEL_DEFINITION_FILE

    @property
    def provenance(self) -> Path:
        return self.logs / PROVENANCE_FILE

    @property
    def git_diff(self) -> Path:
        return self.logs / GIT_DIFF_FILE

    @property
    def history(self) -> Path:
        return self.logs / HISTORY_FILE

    @property
    def summary(self) -> Path:
        """What ``compare`` needs from history.csv and provenance.json (experiment/summary_cache.py)."""
        return self.logs / SUMMARY_FILE

    @property
    def train_lock(self) -> Path:
        return self.root / TRAIN_LOCK_FILE

    @property
    def train_state(self) -> Path:
        return self.models / TRAIN_STATE_FILE

    @property
    def best_checkpoint(self) -> Path:
        return self.models / BEST_CHECKPOINT

    @property
    def recovery_checkpoint(self) -> Path:
        return self.models / RECOVERY_CHECKPOINT

    @property
    def class_names(self) -> Path:
        return self.models / CLASS_NAMES_FILE

    @property
    def category_map(self) -> Path:
        return self.models / CATEGORY_MAP_FILE

    def checkpoint(self, epoch: int) -> Path:
        return self.models / checkpoint_name(epoch)

    @property
    def thresholds(self) -> Path:
        return self.models / THRESHOLDS_FILE

    @property
    def exports(self) -> Path:
        return self.root / EXPORTS_DIR

    @property
    def slurm_script(self) -> Path:
        return self.logs / SLURM_SCRIPT_FILE

    def condition(self, name: str) -> Path:
        return self.testing / name


def disk_usage(root: Path) -> int:
    """Bytes of every file under ``root`` (files that vanish meanwhile are skipped)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total
