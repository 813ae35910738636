"""``abyssexp data``: check, stats, split, merge, leaks, from-folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from abyssexp.cli.app import app
from abyssexp.cli.console import err, error_line, out, print_json, progress_bar
from abyssexp.cli.options import JsonOption, NoNearCheckOption
from abyssexp.datasets.near_duplicates import NEAR_DISTANCE

data_app = typer.Typer(help="Inspect and prepare COCO classification data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


ValOption = Annotated[
    Path | None,
    typer.Option("--val", help="A validation COCO file, read with the training file's map."),
]
CategoryMapOption = Annotated[
    str | None, typer.Option("--category-map", help="Category map JSON file.")
]
MapByOption = Annotated[
    str | None, typer.Option("--map-by", help="Build the map: category or supercategory.")
]
ImageDirOption = Annotated[
    Path | None,
    typer.Option("--image-dir", help="Images folder (default: found where export tools put them)."),
]
ValImagesOption = Annotated[
    Path | None, typer.Option("--val-images", help="Images folder of --val.")
]
TranslatorOption = Annotated[
    str, typer.Option("--translator", help="category, or caption (deprecated captions).")
]
CaptionMapOption = Annotated[
    str | None, typer.Option("--caption-map", help="Caption word -> logit JSON file.")
]
LabelSourceOption = Annotated[
    str, typer.Option("--label-source", help="any, or zero_area (only zero-area annotations).")
]
UnlabelledOption = Annotated[
    str, typer.Option("--unlabelled", help="drop, background (softmax) or zeros (sigmoid).")
]
BackgroundNameOption = Annotated[
    str, typer.Option("--background-name", help="The background class's name.")
]
MultilabelOption = Annotated[
    str,
    typer.Option("--multilabel", help="Softmax images with several labels: drop, share, refuse."),
]
SigmoidOption = Annotated[
    bool, typer.Option("--sigmoid", help="Check for a multilabel (sigmoid) model.")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Overwrite output files that already exist.")
]


@data_app.command("check")
def check_command(
    coco_file: Annotated[Path, typer.Argument(help="The (training) COCO json to check.")],
    val: ValOption = None,
    category_map: CategoryMapOption = None,
    map_by: MapByOption = None,
    image_dir: ImageDirOption = None,
    val_images: ValImagesOption = None,
    translator: TranslatorOption = "category",
    caption_map: CaptionMapOption = None,
    label_source: LabelSourceOption = "any",
    unlabelled: UnlabelledOption = "drop",
    background_name: BackgroundNameOption = "background",
    multilabel: MultilabelOption = "drop",
    sigmoid: SigmoidOption = False,
    no_decode: Annotated[
        bool, typer.Option("--no-decode", help="Skip decoding the images (existence only).")
    ] = False,
    test: Annotated[
        Path | None,
        typer.Option("--test", help="A test COCO file, checked for images the others share."),
    ] = None,
    test_images: Annotated[
        Path | None, typer.Option("--test-images", help="Images folder of --test.")
    ] = None,
    no_near_check: NoNearCheckOption = False,
    json_output: JsonOption = False,
) -> None:
    """Check ids, dangling annotations, the category map, the class table and every image file;
    say which tool exported the file and where its images are; print the class table as it
    trains (after the unlabelled and multilabel policies; "in the file" beside it when they
    differ). Exit 0 when usable as it trains (every class has training images, and validation
    images with --val, background included; 2+ classes or a background; unique class names;
    every file decodes; no image in two of the splits given), else 1 with one line per problem
    and its fix. With --val/--test, near-duplicates across the splits are warned of (cached
    perceptual hashes; --no-near-check skips that)."""
    from abyssexp.datasets.check import CheckOptions, check_coco

    _check_choices(
        ("--map-by", map_by, (None, "category", "supercategory")),
        ("--translator", translator, ("category", "caption")),
        ("--label-source", label_source, ("any", "zero_area")),
        ("--unlabelled", unlabelled, ("drop", "zeros" if sigmoid else "background")),
        ("--multilabel", multilabel, ("drop", "share", "refuse")),
    )
    options = CheckOptions(
        category_map=category_map,
        map_by=map_by,
        image_dir=image_dir,
        translator=translator,
        caption_map=caption_map,
        label_source=label_source,
        softmax=not sigmoid,
        unlabelled=unlabelled,
        background_name=background_name,
        multilabel=multilabel,
        val=val,
        val_image_dir=val_images,
        test=test,
        test_image_dir=test_images,
        near_check=not no_near_check,
        decode=not no_decode,
    )
    with progress_bar("decoding images", quiet=json_output or no_decode) as report_progress:
        report = check_coco(coco_file, options, progress=report_progress)
    if json_output:
        print_json(report.to_json())
    else:
        _render(report)
    if not report.ok:
        if not json_output:
            _render_problems(report, [coco_file, *(f for f in (val, test) if f)])
        raise typer.Exit(1)


def _render_problems(report: Any, named: list[Path]) -> None:
    """One error line per problem (prefixed with the checked file unless it names one)."""
    prefixes = tuple(str(path) for path in named)
    for problem in report.problems:
        error_line(problem if problem.startswith(prefixes) else f"{named[0]}: {problem}")
    if report.stats:  # a file that did not even parse is its one error line
        count = len(report.problems)
        out.print(f"[red]not usable[/] as it trains: {count} problem(s) above")


def _check_choices(*choices: tuple[str, str | None, tuple[str | None, ...]]) -> None:
    from abyssexp.errors import InvalidInputError

    for flag, value, valid in choices:
        if value not in valid:
            allowed = " or ".join(v for v in valid if v)
            raise InvalidInputError(f"{flag} must be {allowed}. Received: {value!r}")


def _render(report) -> None:
    for note in report.notes:
        err.print(note, soft_wrap=True, markup=False)
    stats = report.stats
    if stats:
        # Two short lines (fit 80 columns); the policies are the class table's title below.
        out.print(f"[bold]{report.path}[/]: {stats['images']} images, {stats['classes']} classes")
        out.print(
            f"{stats['labelled']} labelled, {stats['unlabelled']} unlabelled, "
            f"{stats['multilabel']} multilabel"
        )
        _print_class_table(stats)
        if stats["imbalance_ratio"] is not None:
            out.print(f"imbalance ratio (largest/smallest class): {stats['imbalance_ratio']:.2f}")
        elif stats.get("empty_classes"):
            from abyssexp.errors import first_few

            empty = stats["empty_classes"]
            out.print(
                f"imbalance ratio: none ({len(empty)} class(es) with 0 images: "
                f"{escape(first_few(empty))})",
                soft_wrap=True,
            )
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    if report.ok:
        out.print("[green]usable[/]")


def _print_class_table(stats: dict) -> None:
    """Images per class as they train (and "in the file" beside it where a policy changed it),
    with the validation file's counts, and the other unlabelled policy's column."""
    from abyssexp.cli.tables import Column, print_table

    splits = stats["class_table"]["splits"]
    policies = stats["policies"]
    other = next(p for p in policies if p != stats["unlabelled_policy"])
    title = (
        f"trains as: unlabelled={stats['unlabelled_policy']}, "
        f"softmax_multilabel={stats['multilabel_policy']}"
    )
    counted = []
    for split, entry in splits.items():
        if entry["in_file"] != entry["trains_as"]:
            counted.append((f"{split} in the file", entry["in_file"]))
        counted.append((f"{split} trains as", entry["trains_as"]))
    if stats["unlabelled"]:
        counted.append((f"train if unlabelled={other}", policies[other]))
    columns = [
        Column("class", key=True),
        *(Column(header, justify="right") for header, _ in counted),
    ]
    names = list(dict.fromkeys(n for _, counts in counted for n in counts))
    rows = [[name, *(str(counts.get(name, "-")) for _, counts in counted)] for name in names]
    print_table(columns, rows, title)


def _absolute(path: Path) -> str:
    return str(path.expanduser().absolute())


@data_app.command("stats")
def stats_command(
    coco_files: Annotated[list[Path], typer.Argument(help="COCO files, e.g. train val test.")],
    json_output: JsonOption = False,
) -> None:
    """Images and annotations per class (by category name) of each file, side by side."""
    from abyssexp.cli.tables import Column, print_table
    from abyssexp.datasets.tools import dataset_stats

    stats = dataset_stats(coco_files)
    if json_output:
        print_json(stats)
        return
    files = stats["files"]
    columns = [
        Column("class", key=True),
        *(Column(label, justify="right") for label in stats["labels"]),
    ]
    rows: list[list[Any]] = [
        [name, *(f"{per_file[f]['images']} ({per_file[f]['annotations']})" for f in files)]
        for name, per_file in stats["classes"].items()
    ]
    rows += [
        [(key, "dim"), *(str(stats["totals"][f][key]) for f in files)]
        for key in ("labelled", "unlabelled", "multilabel", "images")
    ]
    print_table(columns, rows, "images (annotations) per class")


@data_app.command("split")
def split_command(
    coco_file: Annotated[Path, typer.Argument(help="The COCO file to split.")],
    val: Annotated[float, typer.Option("--val", help="Share of images for validation.")] = 0.15,
    test: Annotated[float, typer.Option("--test", help="Share of images for testing.")] = 0.15,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the shuffle.")] = 0,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help="Keep images of a group in one split: an image field, a regex over "
            "file_name (its first group), e.g. '^([^_]+)_', or near (near-duplicates, "
            "linked: the rule of data leaks --near, docs/data.md).",
        ),
    ] = None,
    image_dir: ImageDirOption = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Output folder (default: the file's).")
    ] = None,
    prefix: Annotated[
        str, typer.Option("--prefix", help="Output names PREFIX.SPLIT.json.")
    ] = "coco",
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """Split a COCO file into train/val/test: stratified by label set, seeded, group-aware.
    Refuses an export whose image files are not found; says when a split's share misses the
    requested one by more than 5 points (groups are assigned whole)."""
    from abyssexp.datasets.tools import split_coco, write_outputs

    outputs, counts, warnings = split_coco(
        coco_file, val, test, seed, group_by, out_dir, prefix, image_dir
    )
    command = ["abyssexp", "data", "split", _absolute(coco_file), "--val", str(val)]
    command += ["--test", str(test), "--seed", str(seed), "--prefix", prefix]
    command += ["--group-by", group_by] if group_by is not None else []
    command += ["--image-dir", _absolute(image_dir)] if image_dir is not None else []
    command += ["--out-dir", str(next(iter(outputs)).parent), "--force"]
    written = write_outputs(outputs, command, force)
    _report_written(written, counts, json_output, warnings)


@data_app.command("merge")
def merge_command(
    coco_files: Annotated[list[Path], typer.Argument(help="COCO files to merge.")],
    out: Annotated[Path, typer.Option("--out", help="The merged COCO file.")],
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """Merge COCO files: image and annotation ids renumbered, categories unified by name
    (a name with two different supercategories is refused)."""
    from abyssexp.datasets.tools import merge_coco, write_outputs

    merged, counts = merge_coco(coco_files, out)
    command = ["abyssexp", "data", "merge", *map(_absolute, coco_files)]
    command += ["--out", _absolute(out), "--force"]
    written = write_outputs({out.absolute(): merged}, command, force)
    _report_written(written, counts, json_output)


@data_app.command("from-folders")
def from_folders_command(
    root: Annotated[Path, typer.Argument(help="A folder with one sub-folder of images per class.")],
    out: Annotated[Path, typer.Option("--out", help="The COCO file to write.")],
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """Turn a folder-per-class tree into COCO: one category per folder, one image-level
    (zero-area) annotation per image."""
    from abyssexp.datasets.tools import from_folders, write_outputs

    data, counts = from_folders(root, out)
    command = ["abyssexp", "data", "from-folders", _absolute(root), "--out", _absolute(out)]
    written = write_outputs({out.absolute(): data}, [*command, "--force"], force)
    _report_written(written, counts, json_output)


@data_app.command("leaks")
def leaks_command(
    coco_files: Annotated[list[Path], typer.Argument(help="TRAIN VAL [TEST] COCO files.")],
    near: Annotated[
        bool, typer.Option("--near", help="Also find near-duplicates (decodes every image).")
    ] = False,
    max_distance: Annotated[
        int,
        typer.Option(
            "--max-distance", min=0, max=64, help="Perceptual-hash bits of 64 for --near."
        ),
    ] = NEAR_DISTANCE,
    json_output: JsonOption = False,
) -> None:
    """Find images in two splits: same file_name, same content (sha256), and with --near
    near-duplicates (perceptual hashes, cached; see docs/data.md). Exit 1 when any is found."""
    from abyssexp.datasets.leaks import find_leaks
    from abyssexp.errors import InvalidInputError, first_few

    if len(coco_files) < 2:
        raise InvalidInputError("data leaks needs two or more COCO files (TRAIN VAL [TEST])")
    report = find_leaks(coco_files, near=near, max_distance=max_distance)
    if json_output:
        print_json(report)
    else:
        for leak in report["leaks"][:20]:
            a, b = leak["a"], leak["b"]
            out.print(
                f"{leak['kind']}: {a['file']}:{a['file_name']} (id {a['image_id']}) and "
                f"{b['file']}:{b['file_name']} (id {b['image_id']})",
                markup=False,
            )
        counts = ", ".join(f"{n} {kind}" for kind, n in report["counts"].items())
        out.print(f"{report['images']} images: {counts}")
        if report["undecoded"]:
            out.print(
                f"{len(report['undecoded'])} images could not be decoded for --near (not "
                f"compared): {first_few(report['undecoded'], 3, width=None)}",
                markup=False,
            )
    if report["leaks"]:
        raise typer.Exit(1)


def _report_written(
    written: list[Path], counts: dict[str, int], json_output: bool, warnings: Sequence[str] = ()
) -> None:
    if json_output:
        print_json({"written": [str(p) for p in written], "counts": counts, "warnings": warnings})
        return
    err.print(", ".join(f"{k}: {v}" for k, v in counts.items()), markup=False)
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    for path in written:
        out.print(str(path), markup=False)
