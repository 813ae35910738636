"""Params precedence in one place: defaults → params.json → command-line overrides.

Validation errors become one ``field.path: message (got value)`` line per problem, raised as an
``InvalidInputError`` so the CLI prints them and exits 2 with nothing written.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from abyssexp.errors import InvalidInputError, first_few, shorten
from abyssexp.jsonio import MAX_SMALL_JSON_BYTES, read_json
from abyssexp.literals import parse_set_value
from abyssexp.schemas.params import Params

_MAX_LINES = 10  # a params file with 10 000 bad values still fits on a screen


def format_validation_error(error: ValidationError, source: str | None = None) -> list[str]:
    """One line per problem: ``training.lr: Input should be greater than 0 (got -1)``."""
    lines = []
    prefix = f"{source}: " if source else ""
    problems = error.errors()
    for problem in problems[:_MAX_LINES]:
        loc = shorten(
            ".".join(str(part) for part in problem["loc"] if not str(part).startswith("function-"))
        )
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown field; see `abyssexp schema` for the valid ones"
        got = problem.get("input")
        shown = (
            ""
            if isinstance(got, dict) or problem["type"] == "missing"
            else f" (got {shorten(repr(got))})"
        )
        if problem["type"] in ("model_type", "dict_type") and not isinstance(got, dict):
            message = _section_hint(problem["loc"]) or message
        lines.append(f"{prefix}{loc or '<params>'}: {message}{shown}")
    if len(problems) > _MAX_LINES:
        lines.append(f"{prefix}... and {len(problems) - _MAX_LINES} more problems")
    return lines


def _section_hint(loc: tuple[Any, ...]) -> str | None:
    """For a section given a plain value (``--set augmentation.cutmix=true``): what to type
    instead, its fields with their defaults (``--set augmentation.cutmix.alpha=1.0``)."""
    from pydantic import BaseModel

    model: Any = Params
    for part in loc:
        field = getattr(model, "model_fields", {}).get(str(part))
        if field is None:
            return None
        model = next(
            (
                t
                for t in (field.annotation, *getattr(field.annotation, "__args__", ()))
                if isinstance(t, type) and issubclass(t, BaseModel)
            ),
            None,
        )
        if model is None:
            return None
    key = ".".join(str(part) for part in loc)
    fields = [
        f"--set {key}.{name}={_typed(field.default)}" for name, field in model.model_fields.items()
    ]
    return (
        f"a section, not a value; set its fields ({first_few(fields, 3, width=None)}) or all "
        f"defaults with --set '{key}={{}}'"
    )


def _typed(value: Any) -> str:
    """``value`` as typed after ``--set key=`` (a string plain, anything else as JSON)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except TypeError:
        return str(value)


def validate_params(data: Mapping[str, Any], source: str | None = None) -> Params:
    """Validate a params dict; raise ``InvalidInputError`` with one line per problem."""
    try:
        return Params.model_validate(dict(data))
    except ValidationError as exc:
        lines = format_validation_error(exc, source)
        raise InvalidInputError(lines[0], lines) from None


def parse_set_options(items: Iterable[str]) -> list[tuple[str, Any]]:
    """Parse ``KEY=VALUE`` strings; VALUE is JSON or a safe literal, else a plain string."""
    parsed = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(
                f"--set {shorten(repr(item))}: expected section.field=VALUE, e.g. "
                "--set training.lr=1e-3"
            )
        parsed.append((key, parse_set_value(raw, what=f"--set {shorten(key, 40)}")))
    return parsed


def apply_overrides(data: dict[str, Any], overrides: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Return a copy of ``data`` with each dotted ``key`` set to its value.

    Keys are checked against the schema so ``--set training.lr5=1`` names the valid fields.
    """
    result = copy.deepcopy(data)
    for key, value in overrides:
        parts = key.split(".")
        _check_key(parts, key)
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return result


def _check_key(parts: list[str], key: str) -> None:
    model: Any = Params
    for depth, part in enumerate(parts):
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return  # inside a free-form dict (optimizer_args, category_map, ...)
        if part not in fields:
            where = ".".join(parts[:depth]) or "params"
            import difflib

            close = difflib.get_close_matches(part, list(fields), n=3, cutoff=0.6)
            hint = (
                f"did you mean {', '.join(close)}?" if close else f"valid: {first_few(fields, 8)}"
            )
            raise InvalidInputError(
                f"--set {key}: {where} has no field {shorten(part, 40)!r} ({hint}; "
                "`abyssexp schema` lists them all)"
            )
        annotation = fields[part].annotation
        model = annotation if isinstance(annotation, type) else None
        if model is None:
            return


def load_params_file(path: Path) -> dict[str, Any]:
    """Read params.json as a dict, with a clear message for a missing, broken or oversized file
    (bounded where it is read: parsing a 100 MB file would take GBs)."""
    if not Path(path).exists():
        raise InvalidInputError(f"{path}: params file not found")
    data = read_json(
        path,
        str(path),
        InvalidInputError,
        limit=MAX_SMALL_JSON_BYTES,
        fix="abyssexp never writes one that large; give a large category map as a file",
    )
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: params must be a JSON object")
    return data


def resolve_params(
    base: Mapping[str, Any] | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
    source: str | None = None,
) -> Params:
    """defaults → ``base`` (a params dict) → ``overrides``, validated."""
    data = dict(base) if base else {}
    data = apply_overrides(data, overrides)
    return validate_params(data, source)


def dict_option(text: str, option: str, example: str) -> dict[str, Any]:
    """Parse a dict-valued command-line option such as ``--optimizer-args``."""
    from abyssexp.literals import parse_literal

    value = parse_literal(text, what=option)
    if not isinstance(value, dict):
        raise InvalidInputError(f"{option}: expected a dict such as {example}. Received: {value!r}")
    return value


def augmentation_overrides(text: str) -> list[tuple[str, Any]]:
    """``--augmentation-configuration`` as overrides: merged over the experiment's augmentation
    params and switching augmentation on (the one meaning, in ``train`` and ``augment preview``)."""
    value = dict_option(text, "--augmentation-configuration", '{"flip_lr": True}')
    return [("augmentation.enabled", True), *((f"augmentation.{k}", v) for k, v in value.items())]


def params_to_json(params: Params) -> dict[str, Any]:
    return params.model_dump(mode="json")
