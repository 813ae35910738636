"""``models/params.json``: every setting of an experiment, validated before anything runs.

Field names follow the original team's training script (``--lr``, ``--optimizer-args``,
``--cache-val``, ``--augmentation-configuration``...) so its users recognise them. Each model forbids
unknown keys, so a typo in ``--set`` fails loudly instead of being ignored.
"""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from abyssexp.schemas.choices import (
    BACKBONE_NAMES,
    OPTIMIZER_NAMES,
    backbone_key,
    unknown_choice,
)

SCHEMA_VERSION = 1

Range = tuple[float, float]

#: Metric names ``keras.metrics.get`` resolves that compute on one-hot targets and class scores, as
#: ``compile(metrics=[...])`` takes them (``acc``/``accuracy`` resolve to categorical or binary
#: accuracy). Checked here so ``new`` refuses a typo without importing TensorFlow; a test keeps the
#: list in step with the installed Keras. Sparse-label, IoU and threshold-pair metrics need
#: arguments or integer labels, so they are not in it.
KERAS_METRICS = frozenset(
    {
        "acc",
        "Accuracy",
        "accuracy",
        "AUC",
        "auc",
        "BCE",
        "bce",
        "binary_accuracy",
        "binary_crossentropy",
        "binary_io_u",
        "BinaryAccuracy",
        "BinaryCrossentropy",
        "BinaryIoU",
        "categorical_accuracy",
        "categorical_crossentropy",
        "categorical_hinge",
        "CategoricalAccuracy",
        "CategoricalCrossentropy",
        "CategoricalHinge",
        "concordance_correlation",
        "ConcordanceCorrelation",
        "cosine_similarity",
        "CosineSimilarity",
        "f1_score",
        "F1Score",
        "f_beta_score",
        "false_negatives",
        "false_positives",
        "FalseNegatives",
        "FalsePositives",
        "FBetaScore",
        "Hinge",
        "hinge",
        "kl_divergence",
        "KLDivergence",
        "log_cosh_error",
        "LogCoshError",
        "MAE",
        "mae",
        "MAPE",
        "mape",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_error",
        "mean_squared_logarithmic_error",
        "MeanAbsoluteError",
        "MeanAbsolutePercentageError",
        "MeanSquaredError",
        "MeanSquaredLogarithmicError",
        "MSE",
        "mse",
        "MSLE",
        "msle",
        "pearson_correlation",
        "PearsonCorrelation",
        "Poisson",
        "poisson",
        "Precision",
        "precision",
        "r2_score",
        "R2Score",
        "Recall",
        "recall",
        "root_mean_squared_error",
        "RootMeanSquaredError",
        "squared_hinge",
        "SquaredHinge",
        "top_k_categorical_accuracy",
        "TopKCategoricalAccuracy",
        "true_negatives",
        "true_positives",
        "TrueNegatives",
        "TruePositives",
    }
)


#: Front-door bounds (docs/concepts.md "Bad input"): a value past them is refused by ``new``,
#: ``--set`` and ``sweep new`` instead of failing deep in training. Generous for real work.
MAX_INPUT_SIDE = 4096  # pixels per side of model.input_shape
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536
MAX_STEPS = 10**9
MAX_GPUS = 1024
MAX_WORKERS = 1024
MAX_SEED = 2**32 - 1
MAX_LR = 100.0
MAX_CACHE_GB = 1_000_000.0


class _Strict(BaseModel):
    # Infinity and NaN are refused: params.json is JSON, which has no spelling for them.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def _logged_name(metric: str) -> str:
    """The key Keras logs a metric under (``acc`` is compiled as ``accuracy``)."""
    return "accuracy" if metric in ("acc", "accuracy") else metric


Checked = TypeVar("Checked")


def _require_finite(value: Checked, name: str) -> Checked:
    """Free-form settings (optimizer_args, ...) hold only finite numbers; walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{name} values must be finite numbers, got {item}")
    return value


def _check_range(value: Range | None, low: float, high: float, name: str) -> Range | None:
    if value is None:
        return None
    a, b = value
    if a > b:
        raise ValueError(f"{name} range must be (low, high) with low <= high")
    if a < low or b > high:
        raise ValueError(f"{name} range must lie within [{low}, {high}]")
    return (float(a), float(b))


class DatasetParams(_Strict):
    """Where the COCO files are and how their annotations become targets."""

    train: str | None = Field(
        None, description="Training COCO file, relative to the experiment folder."
    )
    val: str | None = Field(
        None, description="Validation COCO file, relative to the experiment folder."
    )
    image_dir: str | dict[str, str] | None = Field(
        None,
        description="Folder that image file_names are relative to: one folder, or one per split "
        '({"train": ..., "val": ...}); a relative path here is relative to the experiment folder. '
        "`new` records absolute folders: the ones given (--image-dir, --train-images, "
        "--val-images, resolved against the current directory) or found where export tools put "
        "images (the COCO file's folder, images/ beside it, images/<subset>/ or images/ beside "
        "annotations/, the parent of annotations/).",
    )
    image_dir_given: dict[str, str] | None = Field(
        None,
        description="Written by `new`: per split, the image folder as the user typed it, or how "
        "it was found; image_dir holds the absolute folder used.",
    )
    category_map: dict[str, int] | str | None = Field(
        None,
        description='Category map {"category_id": logit}, inline or a JSON file path. Many-to-one '
        "maps collapse a label hierarchy; the class count is the number of distinct logits.",
    )
    map_by: Literal["category", "supercategory"] | None = Field(
        None,
        description="Build the category map from the training file: one logit per category name or "
        "per supercategory, sorted by name. The built map is written back into params.json.",
    )
    translator: Literal["category", "caption"] = Field(
        "category",
        description="How annotations become labels: category_id (default) or the deprecated "
        "comma-separated caption words.",
    )
    caption_map: dict[str, int] | str | None = Field(
        None, description="Caption word -> logit map (inline or JSON file) for translator=caption."
    )
    ignore_unmapped_captions: bool = Field(
        False, description="Skip caption words missing from caption_map instead of failing."
    )
    label_source: Literal["any", "zero_area"] = Field(
        "any",
        description="Which annotations are image-level labels: any annotation with a category_id, "
        "or only zero-area ones (bbox [0,0,0,0], zero width/height, or a zero-area polygon).",
    )
    unlabelled: Literal["drop", "zeros", "background"] = Field(
        "drop",
        description="Images with no mapped label: drop them (counted), keep them with an all-zero "
        "target (sigmoid multilabel), or make them a background class: the background_logit "
        "when set, else an extra last class named background_name (a one-category dataset then "
        "trains as defect vs background).",
    )
    background_logit: int | None = Field(
        None,
        ge=0,
        le=MAX_STEPS,
        description="An existing logit for unlabelled=background (the seed's way) and "
        "enforce_one_vs_all; leave unset to add a background class instead.",
    )
    background_name: str = Field(
        "background",
        min_length=1,
        max_length=100,
        description="The name of the class unlabelled=background adds when background_logit is "
        "unset.",
    )
    enforce_one_vs_all: bool = Field(
        False, description="Clear the background logit when another label is present."
    )
    softmax_multilabel: Literal["drop", "share", "refuse"] = Field(
        "drop",
        description="With softmax, an image with several distinct labels has no single right "
        "answer: drop it from training and metrics (default; counted in data check, train and "
        "test), share the target equally between its labels (a prediction of any of them counts "
        "as right, the confusion matrix counts the image once per label), or refuse the data.",
    )

    @model_validator(mode="after")
    def _background(self) -> DatasetParams:
        if self.enforce_one_vs_all and self.background_logit is None:
            raise ValueError("enforce_one_vs_all needs dataset.background_logit")
        return self


class ModelParams(_Strict):
    """The network: a keras.applications backbone and a classification head."""

    backbone: str = Field(
        "xception",
        description="Lower-case keras.applications name, or tinycnn (three conv blocks, for "
        "smoke tests on a CPU); abyssexp backbones lists them.",
    )
    output_activation: Literal["softmax", "sigmoid"] = Field(
        "softmax", description="softmax for one label per image, sigmoid for multilabel."
    )
    pooling: Literal["avg", "max"] = Field("avg", description="Global pooling after the backbone.")
    input_shape: tuple[int, int, int] | None = Field(
        None,
        description="[height, width, 3], each side 8..4096; default: the backbone's own input size.",
    )
    init_weights: str = Field(
        "imagenet",
        description="imagenet (Keras download/cache), none, or a weights/checkpoint file path.",
    )
    trainable: bool | Literal["head"] | list[str] = Field(
        True,
        description="true, false, head (only the classifier head), or layer-name glob patterns.",
    )
    l12_reg: tuple[float | None, float | None] | None = Field(
        None, description="[l1, l2] kernel regularisation factors (nulls allowed)."
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout before the classifier layer.")
    bn_momentum: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="Batch-norm momentum; default 0.9 when init_weights is none (Keras' 0.99 "
        "leaves inference-mode statistics stale on small datasets), else the backbone's own.",
    )
    jit_compile: bool = Field(False, description="Compile the train step with XLA.")

    @field_validator("backbone")
    @classmethod
    def _backbone(cls, v: str) -> str:
        if backbone_key(v) not in BACKBONE_NAMES:
            raise ValueError(
                unknown_choice("backbone", v, BACKBONE_NAMES, "`abyssexp backbones` lists them")
            )
        return v

    @field_validator("input_shape")
    @classmethod
    def _three_channels(cls, value: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        if value is None:
            return None
        height, width, channels = value
        if channels != 3:
            raise ValueError(f"input_shape must have 3 channels (RGB), got {channels}")
        if height < 8 or width < 8:
            raise ValueError("input_shape height and width must be at least 8")
        if height > MAX_INPUT_SIDE or width > MAX_INPUT_SIDE:
            raise ValueError(
                f"input_shape height and width must be at most {MAX_INPUT_SIDE}, got "
                f"{height}x{width}"
            )
        return value

    @field_validator("l12_reg")
    @classmethod
    def _non_negative(cls, value: Any) -> Any:
        if value is not None and any(v is not None and v < 0 for v in value):
            raise ValueError("l12_reg factors must be >= 0 or null")
        return value


class TrainingParams(_Strict):
    """How the model is fitted."""

    epochs: int = Field(
        10, ge=1, le=MAX_EPOCHS, description="Epochs to train (counted from init_epoch)."
    )
    batch_size: int = Field(
        32, ge=1, le=MAX_BATCH_SIZE, description="Global batch size, split across GPUs/workers."
    )
    lr: float = Field(1e-4, gt=0.0, le=MAX_LR, description="Initial learning rate.")
    optimizer: str = Field(
        "adam", description="Any Keras optimizer by name (adam, sgd, rmsprop...)."
    )
    optimizer_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments of the optimizer, checked against its signature.",
    )

    @field_validator("optimizer")
    @classmethod
    def _optimizer(cls, v: str) -> str:
        if v.lower() not in OPTIMIZER_NAMES:
            valid = ", ".join(sorted(OPTIMIZER_NAMES))
            raise ValueError(unknown_choice("optimizer", v, OPTIMIZER_NAMES, f"valid: {valid}"))
        return v

    loss: Literal["auto", "categorical_crossentropy", "binary_crossentropy", "focal"] = Field(
        "auto",
        description="auto: categorical cross-entropy for softmax, binary for sigmoid; or focal.",
    )
    metrics: list[str] = Field(
        default_factory=lambda: ["accuracy"],
        description="Keras metric names for one-hot targets (accuracy, auc, precision, recall, "
        "f1_score, top_k_categorical_accuracy, ...).",
    )
    init_epoch: int = Field(0, ge=0, le=MAX_EPOCHS, description="Epoch to start counting from.")
    steps_per_epoch: int | None = Field(
        None, ge=1, le=MAX_STEPS, description="Default: one pass over train."
    )
    validation_steps: int | None = Field(
        None, ge=1, le=MAX_STEPS, description="Default: one pass over val."
    )
    cache_val: bool = Field(
        True, description="Cache the whole decoded, resized validation set in memory."
    )
    cache_train: bool = Field(
        False,
        description="Keep the decoded, resized training set in memory after the first epoch "
        "(augmentation still runs every epoch). Frees CPU for the model on CPU-bound machines "
        "when the set fits in memory.",
    )
    cache: Literal["none", "disk"] = Field(
        "none",
        description="disk: keep each decoded, resized image in <scratch>/.cache/images/, shared "
        "by every experiment and by `abyssexp test`: later epochs and later experiments on the "
        "same files read raw pixels instead of decoding (stored at the input size, or at twice it "
        "where the tf backend augments each image). Combines with cache_train/cache_val.",
    )
    cache_limit_gb: float = Field(
        50.0,
        gt=0.0,
        le=MAX_CACHE_GB,
        description="Size limit of the disk image cache in GB; least-recently-used entries of "
        "other datasets are removed above it.",
    )
    workers: int | None = Field(
        None, ge=1, le=MAX_WORKERS, description="Parallel decode calls; default: tf.data AUTOTUNE."
    )
    gpus: int = Field(1, ge=0, le=MAX_GPUS, description="GPUs to use; >1 uses MirroredStrategy.")
    seed: int = Field(
        42, ge=0, le=MAX_SEED, description="Seed for shuffling, augmentation and initialisation."
    )
    deterministic: bool = Field(
        False, description="Enable TensorFlow op determinism (identical history for the same seed)."
    )
    class_weights: Literal["balanced"] | dict[str, float] | None = Field(
        None,
        description="balanced, or {logit: weight}; applied per class inside the loss (multilabel-safe).",
    )
    lr_schedule: Literal["step", "exp", "cosine", "cyclic", "plateau"] | None = Field(
        None, description="Learning-rate schedule."
    )
    lr_schedule_params: dict[str, Any] = Field(
        default_factory=dict,
        description="step: step_size, gamma; exp: gamma; cosine: min_lr; cyclic: base_lr, max_lr, "
        "step_size; plateau: factor, patience, min_lr.",
    )
    early_stopping_patience: int | None = Field(
        None, ge=1, le=MAX_EPOCHS, description="Stop after this many epochs without improvement."
    )
    monitor: str = Field(
        "val_loss",
        description="Metric for best checkpoint and early stopping: loss, val_loss, val_macro_f1, "
        "or a metric of training.metrics with or without val_.",
    )
    save_model_interval: int = Field(
        1, ge=1, le=MAX_EPOCHS, description="Save model_<epoch> every N epochs."
    )
    keep_checkpoints: int | None = Field(
        3,
        ge=1,
        le=MAX_EPOCHS,
        description="Keep the last N epoch checkpoints (best is always kept); null keeps all.",
    )
    checkpoint_format: Literal["keras", "h5"] = Field(
        "keras", description="Checkpoint file format."
    )
    mixed_precision: bool = Field(False, description="mixed_float16 compute (GPUs).")
    bn_recompute_batches: int = Field(
        0,
        ge=0,
        le=MAX_STEPS,
        description="Before each validation, recompute batch-norm statistics over this many "
        "training batches (0: off).",
    )
    freeze_backbone_epochs: int = Field(
        0,
        ge=0,
        le=MAX_EPOCHS,
        description="Two-phase fine-tuning: train only the head for this many epochs with the "
        "backbone frozen, then unfreeze it (0: off).",
    )
    unfreeze_from: str | int | None = Field(
        None,
        description="When unfreezing: the backbone layer (name or index) from which layers "
        "train; earlier ones stay frozen. Null: the whole backbone. Batch-norm layers always "
        "stay frozen (inference mode).",
    )
    finetune_lr: float | None = Field(
        None, gt=0.0, le=MAX_LR, description="Learning rate after unfreezing (default: lr / 10)."
    )
    warmup_epochs: float = Field(
        0.0,
        ge=0.0,
        le=MAX_EPOCHS,
        description="Linear learning-rate warm-up from 0 over this many epochs, for every "
        "schedule but plateau (restarts after unfreezing).",
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=1.0, description="Label smoothing of the cross-entropy targets."
    )
    ema: bool = Field(
        False,
        description="Keep an exponential moving average of the weights; validation, "
        "checkpoints and best.keras use the averaged weights.",
    )
    ema_momentum: float = Field(0.99, gt=0.0, lt=1.0, description="EMA momentum.")
    gradient_accumulation_steps: int | None = Field(
        None,
        ge=2,
        le=MAX_STEPS,
        description="Apply the averaged gradients every N batches (null: off).",
    )
    thresholds: Literal["f1", "precision"] | None = Field(
        "f1",
        description="Sigmoid models: per-class decision thresholds chosen on the validation set "
        "at the end of training (max F1, or the lowest reaching threshold_precision), saved "
        "as models/thresholds.json and used by test and predict. Null: 0.5 for every class.",
    )
    threshold_precision: float = Field(
        0.9, gt=0.0, le=1.0, description="Target precision for thresholds: precision."
    )

    @model_validator(mode="after")
    def _finetune_fits(self) -> TrainingParams:
        if self.freeze_backbone_epochs and self.freeze_backbone_epochs >= self.epochs:
            raise ValueError(
                f"freeze_backbone_epochs ({self.freeze_backbone_epochs}) must be smaller than "
                f"epochs ({self.epochs}): the backbone would never be fine-tuned"
            )
        return self

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        for metric in value:
            if metric not in KERAS_METRICS:
                close = difflib.get_close_matches(metric, sorted(KERAS_METRICS), n=3)
                hint = (
                    f"did you mean {' or '.join(close)}?"
                    if close
                    else "e.g. accuracy, auc, precision, recall, f1_score"
                )
                raise ValueError(f"{metric[:40]!r} is not a Keras metric name; {hint}")
        return value

    @field_validator("monitor")
    @classmethod
    def _logged_monitor(cls, value: str, info: Any) -> str:
        metrics = info.data.get("metrics")
        if metrics is None:  # metrics failed validation: that line is enough
            return value
        names = ["loss", *dict.fromkeys(_logged_name(m) for m in metrics)]
        valid = [*names, *(f"val_{n}" for n in names), "val_macro_f1"]
        if value not in valid:
            raise ValueError(
                f"{value[:40]!r} is never logged, so no best checkpoint would be kept; use one of "
                f"{', '.join(valid[:12])}"
            )
        return value

    @field_validator("optimizer_args", "lr_schedule_params")
    @classmethod
    def _finite_args(cls, value: dict[str, Any], info: Any) -> dict[str, Any]:
        return _require_finite(value, info.field_name)

    @field_validator("class_weights")
    @classmethod
    def _positive_weights(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, weight in value.items():
                if not str(key).isdigit():
                    raise ValueError(f"class_weights keys are logits (0, 1, ...), got {key!r}")
                if weight <= 0:
                    raise ValueError(f"class weight for logit {key} must be > 0")
        return value


class RandAugmentParams(_Strict):
    """Keras' ``RandAugment``: ``num_ops`` ops drawn from eleven (shear, translate, rotate,
    brightness, contrast, colour, sharpness, posterize, solarize, autocontrast, equalize)."""

    num_ops: int = Field(2, ge=1, le=11, description="Ops applied in turn to each picked image.")
    magnitude: float = Field(
        0.5, gt=0.0, le=1.0, description="Strength of every op, 0-1 (Keras' factor)."
    )
    rate: float = Field(
        1.0, ge=0.0, le=1.0, description="Share of training images that get RandAugment."
    )


class MixUpParams(_Strict):
    """MixUp: images and their targets blended with another image of the batch."""

    alpha: float = Field(
        0.2, gt=0.0, le=10.0, description="Beta(alpha, alpha) draws the blend weight."
    )


class CutMixParams(_Strict):
    """CutMix: a box of another image of the batch pasted in, targets mixed by its area."""

    alpha: float = Field(
        1.0, gt=0.0, le=1.0, description="Beta(alpha, alpha) draws the kept area (Keras: <= 1)."
    )


class AugmentationParams(_Strict):
    """The original team's augmentation configuration, applied in pixel space before normalisation."""

    enabled: bool = Field(False, description="Augment the training split.")
    backend: Literal["tf", "imgaug"] = Field(
        "tf", description="tf: in-graph, fast (default); imgaug: the original library (extra)."
    )
    placement: Literal["pipeline", "model"] = Field(
        "pipeline",
        description="tf backend: inside tf.data on the CPU, or as layers at the front of the model.",
    )
    some_of: int | None = Field(
        None,
        ge=0,
        le=1024,
        description="Each image gets 0..some_of of the group ops; null: up to all.",
    )
    flip_lr: bool = Field(False, description="Flip left-right with probability 0.5.")
    flip_ud: bool = Field(False, description="Flip up-down with probability 0.5.")
    gblur: Range | None = Field(None, description="Gaussian blur sigma range (pixels).")
    avgblur: tuple[int, int] | None = Field(
        None, description="Box blur kernel size range (only when gblur is off)."
    )
    gnoise: Range | None = Field(
        None, description="Additive Gaussian noise std range, pixel units 0-255."
    )
    scale: Range | None = Field(None, description="Zoom factor range.")
    rotate: Range | None = Field(None, description="Rotation range in degrees.")
    bright: Range | None = Field(None, description="Multiply-brightness factor range.")
    colour_shift: Range | None = Field(None, description="Independent per-channel gain range.")
    cval: int = Field(0, ge=0, le=255, description="Fill value for pixels uncovered by warps.")
    randaugment: RandAugmentParams | None = Field(
        None,
        description="RandAugment after the ops above (whether or not enabled is on); null: off.",
    )
    mixup: MixUpParams | None = Field(
        None,
        description="MixUp of training batches, targets mixed alike (even with enabled off).",
    )
    cutmix: CutMixParams | None = Field(
        None,
        description="CutMix of training batches (with mixup too: one of both per batch).",
    )

    @field_validator("gblur")
    @classmethod
    def _gblur(cls, v: Range | None) -> Range | None:
        return _check_range(v, 0.0, 20.0, "gblur")

    @field_validator("avgblur")
    @classmethod
    def _avgblur(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not (1 <= v[0] <= v[1] <= 31):
            raise ValueError("avgblur kernel range must satisfy 1 <= low <= high <= 31")
        return v

    @field_validator("gnoise")
    @classmethod
    def _gnoise(cls, v: Range | None) -> Range | None:
        return _check_range(v, 0.0, 255.0, "gnoise")

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: Range | None) -> Range | None:
        return _check_range(v, 0.05, 10.0, "scale")

    @field_validator("rotate")
    @classmethod
    def _rotate(cls, v: Range | None) -> Range | None:
        return _check_range(v, -360.0, 360.0, "rotate")

    @field_validator("bright", "colour_shift")
    @classmethod
    def _gain(cls, v: Range | None, info: Any) -> Range | None:
        return _check_range(v, 0.0, 10.0, info.field_name)

    def group_ops(self) -> list[str]:
        """The ops of the some_of group that are switched on, in a fixed order."""
        ops = []
        if self.gblur is not None:
            ops.append("gblur")
        elif self.avgblur is not None:
            ops.append("avgblur")
        for name in ("gnoise", "scale", "rotate", "bright", "colour_shift"):
            if getattr(self, name) is not None:
                ops.append(name)
        return ops

    def recipes(self) -> list[str]:
        """The batch recipes that are switched on (RandAugment, MixUp, CutMix), in order."""
        return [name for name in ("randaugment", "mixup", "cutmix") if getattr(self, name)]


class ReduceLROnPlateauParams(_Strict):
    enabled: bool = Field(
        False,
        description="Reduce the learning rate when monitor plateaus (a constant rate only: "
        "no training.lr_schedule, no warm-up).",
    )
    factor: float = Field(0.5, gt=0.0, lt=1.0, description="Multiply the rate by this.")
    patience: int = Field(3, ge=1, description="Epochs without improvement before reducing.")
    min_lr: float = Field(1e-7, ge=0.0, description="Lower bound on the learning rate.")


class CallbackParams(_Strict):
    """What is logged during training, beyond checkpoints."""

    pr_curves: bool = Field(
        True, description="Per-class PR curves on the full validation set each epoch (TensorBoard)."
    )
    tfpn: bool = Field(
        True, description="Per-class TP/FP/TN/FN, precision, recall, F1 each epoch (TensorBoard)."
    )
    pr_curve_thresholds: int = Field(101, ge=3, le=1001, description="Thresholds per PR curve.")
    histogram_freq: int = Field(
        0, ge=0, le=MAX_EPOCHS, description="TensorBoard weight histograms every N epochs."
    )
    log_images: int = Field(
        6,
        ge=0,
        le=64,
        description="Augmented training images logged to TensorBoard once (when augmentation is on).",
    )
    reduce_lr_on_plateau: ReduceLROnPlateauParams = Field(
        default_factory=ReduceLROnPlateauParams, description="ReduceLROnPlateau settings."
    )


class Params(_Strict):
    """The whole of ``models/params.json``."""

    schema_version: Annotated[int, Field(description="params.json format version.")] = (
        SCHEMA_VERSION
    )
    dataset: DatasetParams = Field(default_factory=DatasetParams, description="Data settings.")
    model: ModelParams = Field(default_factory=ModelParams, description="Model settings.")
    training: TrainingParams = Field(
        default_factory=TrainingParams, description="Training settings."
    )
    augmentation: AugmentationParams = Field(
        default_factory=AugmentationParams, description="Augmentation settings."
    )
    callbacks: CallbackParams = Field(
        default_factory=CallbackParams, description="Logging settings."
    )

    @field_validator("schema_version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"this abyssexp reads schema_version {SCHEMA_VERSION}, got {value}")
        return value

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        if self.training.loss == "categorical_crossentropy" and (
            self.model.output_activation == "sigmoid"
        ):
            raise ValueError(
                "training.loss categorical_crossentropy does not fit model.output_activation "
                "sigmoid; use binary_crossentropy or auto"
            )
        return self
