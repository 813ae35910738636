"""The names a params field may take where the choice is a registry's: backbones and optimizers.

They are data, on the schema floor, so ``new``, ``sweep new --space choice(...)`` and every other
reader of params check a name without importing TensorFlow: ``models/backbones.py`` builds its
registry from ``BACKBONE_TABLE``, and a test holds ``OPTIMIZER_NAMES`` to the optimizers the
installed Keras has (``models.compile_options.optimizer_classes``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: (name, keras.applications constructor (or ``module:function``), the keras.applications
#: submodule of its preprocess_input, default input size, minimum size).
BACKBONE_TABLE: tuple[tuple[str, str, str, int, int], ...] = (
    ("xception", "Xception", "xception", 299, 71),
    ("vgg16", "VGG16", "vgg16", 224, 32),
    ("vgg19", "VGG19", "vgg19", 224, 32),
    ("resnet50", "ResNet50", "resnet", 224, 32),
    ("resnet101", "ResNet101", "resnet", 224, 32),
    ("resnet152", "ResNet152", "resnet", 224, 32),
    ("resnet50v2", "ResNet50V2", "resnet_v2", 224, 32),
    ("resnet101v2", "ResNet101V2", "resnet_v2", 224, 32),
    ("resnet152v2", "ResNet152V2", "resnet_v2", 224, 32),
    ("inceptionv3", "InceptionV3", "inception_v3", 299, 75),
    ("inceptionresnetv2", "InceptionResNetV2", "inception_resnet_v2", 299, 75),
    ("mobilenet", "MobileNet", "mobilenet", 224, 32),
    ("mobilenetv2", "MobileNetV2", "mobilenet_v2", 224, 32),
    ("mobilenetv3small", "MobileNetV3Small", "mobilenet_v3", 224, 32),
    ("mobilenetv3large", "MobileNetV3Large", "mobilenet_v3", 224, 32),
    ("densenet121", "DenseNet121", "densenet", 224, 32),
    ("densenet169", "DenseNet169", "densenet", 224, 32),
    ("densenet201", "DenseNet201", "densenet", 224, 32),
    ("nasnetmobile", "NASNetMobile", "nasnet", 224, 32),
    ("nasnetlarge", "NASNetLarge", "nasnet", 331, 32),
    *(
        (f"efficientnetb{i}", f"EfficientNetB{i}", "efficientnet", size, 32)
        for i, size in enumerate((224, 240, 260, 300, 380, 456, 528, 600))
    ),
    *(
        (f"efficientnetv2{suffix}", f"EfficientNetV2{suffix.upper()}", "efficientnet_v2", size, 32)
        for suffix, size in (
            ("b0", 224),
            ("b1", 240),
            ("b2", 260),
            ("b3", 300),
            ("s", 384),
            ("m", 480),
            ("l", 480),
        )
    ),
    *(
        (f"convnext{size.lower()}", f"ConvNeXt{size}", "convnext", 224, 32)
        for size in ("Tiny", "Small", "Base", "Large", "XLarge")
    ),
    # Not keras.applications: three conv blocks (abyssexp.models.tiny_backbone), for smoke
    # tests and CI on CPU, as timm's ``test_*`` models; mobilenet's [-1, 1] preprocessing.
    ("tinycnn", "abyssexp.models.tiny_backbone:tiny_cnn", "mobilenet", 32, 8),
)
BACKBONE_NAMES: frozenset[str] = frozenset(row[0] for row in BACKBONE_TABLE)
#: Keras 3's optimizers by lower-case class name (the test compares them with Keras's own).
OPTIMIZER_NAMES: frozenset[str] = frozenset(
    (
        "adadelta",
        "adafactor",
        "adagrad",
        "adam",
        "adamax",
        "adamw",
        "ftrl",
        "lamb",
        "lion",
        "multioptimizer",
        "muon",
        "nadam",
        "rmsprop",
        "schedulefreeadamw",
        "sgd",
    )
)


def backbone_key(name: str) -> str:
    """The registry key of a backbone name (``ResNet-50`` → ``resnet50``)."""
    return name.lower().replace("_", "").replace("-", "")


def unknown_choice(what: str, name: str, valid: Iterable[str], otherwise: str) -> str:
    """The message for a name the registry lacks: close matches, else ``otherwise`` (where the
    list is, or the list)."""
    close = difflib.get_close_matches(name.lower(), sorted(valid), n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else otherwise
    return f"unknown {what} {name!r}; {hint}"
