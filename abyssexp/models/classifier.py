"""``ImageClassifier``: a keras.applications backbone, a pooling + dense head, compiled.

The original team's constructor works as written, and compiles as it did (``compile=False``
builds only: training compiles once per phase with the run's recipe, ``models.compiling``)::

    classifier = ImageClassifier(backbone='xception', output_activation='softmax', pooling='avg',
        classes=num_classes, input_shape=tuple(image_shape), init_weights='none', init_epoch=0,
        init_lr=args.lr, trainable=True, optimizer='adam', loss='categorical_crossentropy',
        metrics=['accuracy'], gpus=1, l12_reg=(None, 0.01))

Differences that fix the original's bugs: every backbone uses its own preprocessing; ``l12_reg``
really regularises every kernel (the original set a Keras 1 attribute, a no-op); batch-norm
momentum defaults to 0.9 when training from scratch.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from abyssexp.atomic import atomic_path
from abyssexp.errors import AbyssExpError, InvalidInputError
from abyssexp.models import layers as abyss_layers
from abyssexp.models import losses as _losses  # noqa: F401 - registers serializable losses
from abyssexp.models import schedules as _schedules  # noqa: F401
from abyssexp.models.backbones import create_backbone, get_backbone_spec, input_shape_for
from abyssexp.models.compiling import CompileRecipe, compile_model

if TYPE_CHECKING:
    import tensorflow as tf

    from abyssexp.models.schedules import LearningRate

SCRATCH_BN_MOMENTUM = 0.9
REGULARIZED_ATTRIBUTES = ("kernel_regularizer", "depthwise_regularizer", "pointwise_regularizer")


def _is_none(weights: Any) -> bool:
    return weights is None or (isinstance(weights, str) and weights.lower() in ("none", "null", ""))


def apply_regularization(model: keras.Model, l1: float | None, l2: float | None) -> keras.Model:
    """Rebuild ``model`` with an L1/L2 regulariser on every kernel, keeping its weights."""
    regularizer = keras.regularizers.L1L2(l1=l1 or 0.0, l2=l2 or 0.0)
    for layer in model.layers:
        for attribute in REGULARIZED_ATTRIBUTES:
            if hasattr(layer, attribute):
                setattr(layer, attribute, regularizer)
    rebuilt = model.__class__.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def registry_name(keras_name: str) -> str:
    """``MobileNetV3Small`` (a Keras model name) → ``mobilenetv3small`` (the registry key)."""
    from abyssexp.models.backbones import BACKBONES

    key = keras_name.lower().replace("_", "").replace("-", "")
    if key in BACKBONES:
        return key
    lowered = keras_name.lower()  # e.g. mobilenet_1.00_224, mobilenetv2_1.00_224
    for name in sorted(BACKBONES, key=len, reverse=True):
        if lowered.startswith(name + "_"):
            return name
    return keras_name


def backbone_of(model: keras.Model) -> keras.Model:
    """The nested keras.applications model inside a classifier."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            return layer
    raise AbyssExpError(f"model {model.name!r} has no backbone sub-model")


#: A ``.keras`` archive's ``config.json`` (the model's layers as JSON) is kilobytes to a few MB;
#: the whole archive inflates to at most ``MAX_KERAS_BYTES``. Checked before Keras opens it, so a
#: zip bomb costs nothing.
MAX_KERAS_CONFIG_BYTES = 64 << 20
MAX_KERAS_BYTES = 64 << 30


def check_keras_archive(path: Path) -> None:
    """Refuse a ``.keras`` file that is not a zip archive (truncated, text) or inflates too far.

    Raises:
        AbyssExpError: one line naming the file and what is wrong with it.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise AbyssExpError(
            f"{path}: not a readable .keras archive (truncated, or not a Keras file: {exc}); "
            "use another checkpoint"
        ) from None
    config = sum(m.file_size for m in members if m.filename == "config.json")
    total = sum(m.file_size for m in members)
    if config > MAX_KERAS_CONFIG_BYTES or total > MAX_KERAS_BYTES:
        raise AbyssExpError(
            f"{path}: the archive inflates to {total} bytes (config.json {config}), more than a "
            f"Keras model needs ({MAX_KERAS_CONFIG_BYTES} for config.json); refusing to open it"
        )


def load_keras_model(path: Path | str, compile: bool = True) -> keras.Model:
    """Load a checkpoint in Keras safe mode (no arbitrary code from the file)."""
    path = Path(path)
    if not path.is_file():
        raise AbyssExpError(f"{path}: checkpoint not found")
    if path.suffix == ".keras":
        check_keras_archive(path)
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types; one line for the user
        raise AbyssExpError(
            f"{path}: cannot load the checkpoint ({type(exc).__name__}: {exc})"
        ) from None


class ImageClassifier:
    """Initialise, compile, fit, save and load an image classifier.

    Every constructor argument is kept as an attribute. ``compile=False`` builds without
    compiling; ``model=`` wraps a built Keras model instead of building one (what ``load``
    does, with the facts read from the model).
    """

    def __init__(
        self,
        backbone: str = "xception",
        output_activation: str = "softmax",
        pooling: str = "avg",
        classes: int = 2,
        input_shape: Sequence[int] | None = None,
        init_weights: str | None = "imagenet",
        init_epoch: int = 0,
        init_lr: LearningRate = 1e-4,
        trainable: bool | str | Sequence[str] = True,
        optimizer: str = "adam",
        loss: str | keras.losses.Loss = "auto",
        metrics: Sequence[Any] = ("accuracy",),
        gpus: int = 1,
        l12_reg: Sequence[float | None] | None = (None, None),
        *,
        optimizer_args: dict[str, Any] | None = None,
        dropout: float = 0.0,
        bn_momentum: float | None = None,
        include_preprocessing: bool = False,
        augmentation: dict[str, Any] | None = None,
        augmentation_seed: int = 0,
        class_weights: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
        jit_compile: bool = False,
        strategy: tf.distribute.Strategy | None = None,
        compile: bool = True,
        model: keras.Model | None = None,
    ) -> None:
        spec = get_backbone_spec(backbone) if model is None else None
        if output_activation not in ("softmax", "sigmoid"):
            raise InvalidInputError(
                f"output_activation must be softmax or sigmoid. Received: {output_activation!r}"
            )
        if pooling not in ("avg", "max"):
            raise InvalidInputError(f"pooling must be avg or max. Received: {pooling!r}")
        if classes < 1:
            raise InvalidInputError(f"classes must be >= 1. Received: classes={classes}")
        self.backbone = spec.name if spec is not None else backbone
        self.output_activation = output_activation
        self.pooling = pooling
        self.classes = int(classes)
        self.input_shape = (
            input_shape_for(spec.name, input_shape)
            if spec is not None
            else tuple(input_shape or ())
        )
        self.init_weights = None if _is_none(init_weights) else str(init_weights)
        self.init_epoch = init_epoch
        self.init_lr = init_lr
        self.trainable = trainable
        self.optimizer_name = optimizer
        self.optimizer_args = dict(optimizer_args or {})
        self.loss_name = loss
        self.metrics = list(metrics)
        self.gpus = gpus
        self.l12_reg = tuple(l12_reg) if l12_reg is not None else (None, None)
        self.dropout = dropout
        self.bn_momentum = bn_momentum
        if bn_momentum is None and self.init_weights is None:
            self.bn_momentum = SCRATCH_BN_MOMENTUM
        self.include_preprocessing = include_preprocessing
        self.augmentation = augmentation
        self.augmentation_seed = augmentation_seed
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.class_names = list(class_names) if class_names is not None else None
        self.jit_compile = jit_compile
        if strategy is None:
            from abyssexp.models.distribute import make_strategy

            strategy = make_strategy(gpus)
        self.strategy = strategy
        if model is not None:
            self.model = model
            return
        with strategy.scope():
            self.model = self._build()
        if compile:
            self.compile()

    # -- construction -------------------------------------------------------------------------
    def _build(self) -> keras.Model:
        warm_start = None
        backbone_weights: str | None = self.init_weights
        if self.init_weights not in (None, "imagenet"):
            path = Path(self.init_weights)
            if not path.is_file():
                raise InvalidInputError(
                    f"model.init_weights: {path} not found (use imagenet, none or a weights file)"
                )
            if path.suffix == ".keras":
                warm_start, backbone_weights = load_keras_model(path, compile=False), None
        # A float32 input: the pipeline yields uint8 batches (a 4× smaller copy to an accelerator)
        # and Keras casts them to the input's dtype as the model's first op, on the device, before
        # the preprocessing layers; a saved model keeps loading with plain Keras.
        inputs = keras.Input(shape=self.input_shape, dtype="float32", name="image")
        x = inputs
        if self.augmentation and self.augmentation.get("enabled", True):
            x = abyss_layers.SeedAugmentation(
                self.augmentation, seed=self.augmentation_seed, name="augmentation"
            )(x)
        if self.augmentation and self.augmentation.get("randaugment"):
            x = abyss_layers.RandAugmentation(
                self.augmentation["randaugment"], seed=self.augmentation_seed, name="randaugment"
            )(x)
        if self.include_preprocessing:
            for layer in abyss_layers.preprocessing_layers(self.backbone):
                x = layer(x)
        base = create_backbone(self.backbone, self.input_shape, backbone_weights)
        l1, l2 = (list(self.l12_reg) + [None, None])[:2]
        regularizer = None
        if l1 or l2:
            base = apply_regularization(base, l1, l2)
            regularizer = keras.regularizers.L1L2(l1=l1 or 0.0, l2=l2 or 0.0)
        if self.bn_momentum is not None:
            for layer in base.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = self.bn_momentum
        x = base(x)
        pool = (
            keras.layers.GlobalAveragePooling2D
            if self.pooling == "avg"
            else keras.layers.GlobalMaxPooling2D
        )
        x = pool(name="head_pool")(x)
        if self.dropout:
            x = keras.layers.Dropout(self.dropout, name="head_dropout")(x)
        x = keras.layers.Dense(self.classes, kernel_regularizer=regularizer, name="head_dense")(x)
        outputs = keras.layers.Activation(
            self.output_activation, dtype="float32", name="head_activation"
        )(x)
        model = keras.Model(inputs, outputs, name=f"abyssexp_{self.backbone}")
        self._apply_trainable(model, base)
        if warm_start is not None:
            self._warm_start(model, warm_start)
        return model

    def _apply_trainable(self, model: keras.Model, base: keras.Model) -> None:
        trainable = self.trainable
        if trainable is True or trainable == "true":
            return
        if trainable is False or trainable == "false":
            model.trainable = False
        elif trainable == "head":
            base.trainable = False
        elif isinstance(trainable, Sequence) and not isinstance(trainable, str):
            for layer in base.layers:
                layer.trainable = any(fnmatch.fnmatchcase(layer.name, p) for p in trainable)
        else:
            raise InvalidInputError(
                "model.trainable must be true, false, head or a list of layer-name patterns. "
                f"Received: {trainable!r}"
            )

    def _warm_start(self, model: keras.Model, source: keras.Model) -> None:
        """Copy backbone weights from an earlier checkpoint; the head too when classes match."""
        try:
            backbone_of(model).set_weights(backbone_of(source).get_weights())
        except ValueError as exc:
            raise InvalidInputError(
                f"model.init_weights: the checkpoint's backbone does not match {self.backbone} "
                f"at input {list(self.input_shape)} ({exc})"
            ) from None
        if source.output_shape[-1] == self.classes:
            model.get_layer("head_dense").set_weights(source.get_layer("head_dense").get_weights())

    def compile(self) -> None:
        """Compile with the constructor's optimizer, learning rate, loss and metrics (the one
        recipe, ``models.compiling``); a new optimizer each time."""
        with self.strategy.scope():
            compile_model(self.model, self.recipe())

    def recipe(self) -> CompileRecipe:
        """The compile recipe of the constructor's arguments."""
        return CompileRecipe(
            optimizer=self.optimizer_name,
            learning_rate=self.init_lr,
            output_activation=self.output_activation,
            loss=self.loss_name,
            metrics=tuple(self.metrics),
            optimizer_args=dict(self.optimizer_args),
            class_weights=self.class_weights,
            jit_compile=self.jit_compile,
        )

    # -- training and inference ---------------------------------------------------------------
    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Keras ``fit``; ``initial_epoch`` defaults to ``init_epoch``."""
        kwargs.setdefault("initial_epoch", self.init_epoch)
        return self.model.fit(*args, **kwargs)

    def fit_generator(
        self,
        generator: Any,
        steps_per_epoch: int | None = None,
        epochs: int = 1,
        verbose: int | str = 1,
        callbacks: Sequence[Any] | None = None,
        validation_data: Any = None,
        validation_steps: int | None = None,
        class_weight: dict[int, float] | None = None,
        max_queue_size: int = 10,
        workers: int = 1,
        use_multiprocessing: bool = False,
        shuffle: bool = True,
        initial_epoch: int | None = None,
    ) -> Any:
        """The original's ``fit_generator`` signature on top of Keras 3's ``fit``.

        ``workers``, ``use_multiprocessing``, ``max_queue_size`` and ``shuffle`` are accepted for
        compatibility; a Python generator is consumed in order on one thread (use the tf.data
        path for speed).
        """
        return self.model.fit(
            generator,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            verbose=verbose,
            callbacks=list(callbacks or []),
            validation_data=validation_data,
            validation_steps=validation_steps,
            class_weight=class_weight,
            initial_epoch=self.init_epoch if initial_epoch is None else initial_epoch,
            shuffle=False,  # a generator yields in its own (reshuffled) order
        )

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.predict(*args, **kwargs)

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        return self.model.evaluate(*args, **kwargs)

    # -- files --------------------------------------------------------------------------------
    def save(self, path: Path | str) -> Path:
        """Save atomically as ``.keras`` (or legacy ``.h5``): never a torn checkpoint."""
        path = Path(path)
        if path.suffix not in (".keras", ".h5"):
            raise InvalidInputError(f"{path}: checkpoints end in .keras (or .h5)")
        with atomic_path(path) as tmp:
            self.model.save(tmp)
        return path

    @classmethod
    def load(cls, path: Path | str, compile: bool = True) -> ImageClassifier:
        """Load a checkpoint (safe mode, ``load_keras_model``) into an ``ImageClassifier``."""
        return cls.from_model(load_keras_model(path, compile=compile))

    @classmethod
    def from_model(cls, model: keras.Model) -> ImageClassifier:
        """Wrap a Keras classifier abyssexp built: the constructor's arguments are read from its
        layers (backbone, activation, pooling, classes, input shape, dropout, preprocessing)
        and its optimizer when compiled, so ``compile()`` and ``fit`` work as after building."""
        return cls(**_facts_of(model), init_weights=None, model=model)


def _facts_of(model: keras.Model) -> dict[str, Any]:
    """The constructor arguments a built classifier shows in its layers."""
    names = {layer.name: layer for layer in model.layers}
    activation = names["head_activation"].get_config().get("activation", "softmax")
    pool = names.get("head_pool")
    dropout = names.get("head_dropout")
    optimizer = getattr(model, "optimizer", None)
    facts: dict[str, Any] = {
        "backbone": registry_name(backbone_of(model).name),
        "output_activation": activation if isinstance(activation, str) else "softmax",
        "pooling": "max" if isinstance(pool, keras.layers.GlobalMaxPooling2D) else "avg",
        "classes": int(model.output_shape[-1]),
        "input_shape": tuple(model.input_shape[1:]),
        "dropout": float(dropout.rate) if dropout is not None else 0.0,
        "include_preprocessing": any(name.startswith("preprocess") for name in names),
    }
    if optimizer is not None and getattr(model, "compiled", False):
        facts["optimizer"] = type(optimizer).__name__.lower()
    return facts
