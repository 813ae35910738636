"""The one safe parser for dict-like command-line arguments.

Users paste the original team's strings, such as
``{"some_of":None, "gnoise":(0,0.05*255), "scale":(0.8, 1.2)}``: Python-literal syntax with plain
arithmetic on numbers. This module walks the ``ast`` of such a string and accepts only literals
(numbers, strings, ``None``/``True``/``False`` and their JSON spellings), tuples, lists, dicts and
``+ - * / // % **`` on numbers. Names, calls, attribute access and everything else are refused.
Nothing here ever reaches ``eval``.
"""

from __future__ import annotations

import ast
import json
import math
import operator
from typing import Any

from abyssexp.errors import InvalidInputError

_NAMED_CONSTANTS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "null": None,
    "true": True,
    "false": False,
}
_BINARY_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY_OPS = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_POWER = 1000  # 10**10**10 would hang the process: bound exponents.
_MAX_TEXT = 100_000


def parse_literal(text: str, *, what: str = "value") -> Any:
    """Parse ``text`` as JSON or a Python literal with number arithmetic.

    Args:
        text: the user's string, e.g. ``"{'momentum': 0.9}"`` or ``"(0, 0.05*255)"``.
        what: how to name the argument in error messages (``--optimizer-args``).

    Returns:
        Plain Python data: dict, list, tuple, str, int, float, bool or None.

    Raises:
        InvalidInputError: the text is not valid syntax or uses anything but literals and arithmetic.

    Example:
        >>> parse_literal('{"gnoise": (0, 0.05*255), "some_of": None}')
        {'gnoise': (0, 12.75), 'some_of': None}
    """
    text = text.strip()
    if len(text) > _MAX_TEXT:
        raise InvalidInputError(f"{what}: the text is longer than {_MAX_TEXT} characters")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError):
        pass
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise InvalidInputError(
            f"{what}: not valid JSON or Python-literal syntax ({exc.msg} at column "
            f"{exc.offset}); quote the whole argument for the shell. Received: {text!r}"
        ) from None
    return _evaluate(tree.body, what, text)


def _evaluate(node: ast.AST, what: str, text: str) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int | float | str | bool) or node.value is None:
            return node.value
        _refuse(node, what, text)
    if isinstance(node, ast.Name):
        if node.id in _NAMED_CONSTANTS:
            return _NAMED_CONSTANTS[node.id]
        raise InvalidInputError(
            f"{what}: names are not allowed ({node.id!r}); only literals and arithmetic on numbers "
            f"are accepted. Received: {text!r}"
        )
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(item, what, text) for item in node.elts)
    if isinstance(node, ast.List):
        return [_evaluate(item, what, text) for item in node.elts]
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            _refuse(node, what, text)
        return {
            _evaluate(key, what, text): _evaluate(value, what, text)  # type: ignore[arg-type]
            for key, value in zip(node.keys, node.values, strict=True)
        }
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPS:
        operand = _evaluate(node.operand, what, text)
        _require_number(operand, node, what, text)
        return _UNARY_OPS[type(node.op)](operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS:
        left = _evaluate(node.left, what, text)
        right = _evaluate(node.right, what, text)
        _require_number(left, node, what, text)
        _require_number(right, node, what, text)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POWER:
            raise InvalidInputError(f"{what}: exponent {right} is too large. Received: {text!r}")
        try:
            result = _BINARY_OPS[type(node.op)](left, right)
        except (ZeroDivisionError, OverflowError) as exc:
            raise InvalidInputError(f"{what}: {exc}. Received: {text!r}") from None
        if isinstance(result, float) and not math.isfinite(result):
            raise InvalidInputError(f"{what}: arithmetic gave {result}. Received: {text!r}")
        return result
    _refuse(node, what, text)


def _require_number(value: Any, node: ast.AST, what: str, text: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(
            f"{what}: arithmetic is allowed on numbers only (got {value!r}). Received: {text!r}"
        )


def _refuse(node: ast.AST, what: str, text: str) -> None:
    kind = {
        ast.Call: "function calls",
        ast.Attribute: "attribute access",
        ast.Subscript: "indexing",
        ast.Lambda: "lambdas",
    }.get(type(node), f"{type(node).__name__} expressions")
    raise InvalidInputError(
        f"{what}: {kind} are not allowed; only literals (numbers, strings, None/True/False, "
        f"tuples, lists, dicts) and arithmetic on numbers are accepted. Received: {text!r}"
    )


def parse_set_value(text: str) -> Any:
    """Parse the VALUE of ``--set KEY=VALUE``: JSON or a safe literal, else the plain string.

    ``--set model.input_shape=[96,96,3]`` gives a list; ``--set model.backbone=xception`` a string.
    """
    try:
        return parse_literal(text, what="--set")
    except InvalidInputError:
        return text
