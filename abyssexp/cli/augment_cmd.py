"""``abyssexp augment preview``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abyssexp.cli.app import app
from abyssexp.cli.console import out
from abyssexp.cli.options import ScratchOption, scratch_root

#: A grid of 32 rows of 17 tiles of 299x299 pixels is ~150 MB in memory: past these the preview
#: takes minutes and GBs, and no one reads it.
MAX_PREVIEW_IMAGES = 32
MAX_PREVIEW_VERSIONS = 16

augment_app = typer.Typer(
    help="See what the augmentation configuration does.", no_args_is_help=True
)
app.add_typer(augment_app, name="augment")


@augment_app.command("preview")
def preview_command(
    ref: Annotated[
        str | None, typer.Argument(help="Experiment (its training set and augmentation params).")
    ] = None,
    out_file: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path(
        "augmentation-preview.png"
    ),
    coco: Annotated[
        Path | None, typer.Option("--coco", help="A COCO file instead of an experiment.")
    ] = None,
    augmentation_configuration: Annotated[
        str | None,
        typer.Option(
            "--augmentation-configuration", help="The seed's dict; overrides the experiment's."
        ),
    ] = None,
    images: Annotated[
        int,
        typer.Option(
            "--images", min=1, max=MAX_PREVIEW_IMAGES, help="Rows: training images shown."
        ),
    ] = 4,
    versions: Annotated[
        int,
        typer.Option(
            "--versions", min=1, max=MAX_PREVIEW_VERSIONS, help="Augmented versions per image."
        ),
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    scratch: ScratchOption = None,
) -> None:
    """Write a PNG grid of training images and augmented versions of each."""
    from abyssexp.tf_runtime import load_tensorflow

    load_tensorflow()
    from abyssexp.augmentation.preview import render_preview
    from abyssexp.errors import InvalidInputError

    size = None
    if ref is not None:
        from abyssexp.datasets.split_datasets import dataset_for_split, label_space_from_params
        from abyssexp.experiment.refs import resolve_ref
        from abyssexp.schemas.resolve import load_params_file, validate_params

        paths = resolve_ref(ref, scratch_root(scratch))
        params = validate_params(load_params_file(paths.params), str(paths.params))
        labels = label_space_from_params(params.dataset, paths.root)
        dataset = dataset_for_split(params.dataset, "train", paths.root, labels)
        augmentation = params.augmentation
        from abyssexp.models.backbones import input_shape_for

        size = input_shape_for(params.model.backbone, params.model.input_shape)[:2]
    elif coco is not None:
        from abyssexp.datasets.coco import ImageClassificationDataset

        dataset = ImageClassificationDataset(coco)
        augmentation = None
    else:
        raise InvalidInputError("augment preview: give an experiment REF or --coco FILE")
    if augmentation_configuration is not None:
        from abyssexp.schemas.params import AugmentationParams
        from abyssexp.schemas.resolve import augmentation_overrides, resolve_params

        # Merged over the experiment's augmentation params, as in `train`.
        base = (augmentation or AugmentationParams()).model_dump(mode="json")
        overrides = augmentation_overrides(augmentation_configuration)
        augmentation = resolve_params({"augmentation": base}, overrides).augmentation
    if augmentation is None:
        raise InvalidInputError(
            "augment preview --coco needs --augmentation-configuration '<dict>'"
        )
    seed_ops = augmentation.flip_lr or augmentation.flip_ud or augmentation.group_ops()
    if not seed_ops and not augmentation.recipes():
        raise InvalidInputError("augmentation: the configuration switches no operation on")
    written = render_preview(
        dataset, augmentation, out_file, images=images, versions=versions, seed=seed, size=size
    )
    out.print(f"wrote {written}")
