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
from collections.abc import Callable
from typing import Any

from abyssexp.errors import InvalidInputError, shorten

_NAMED_CONSTANTS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "null": None,
    "true": True,
    "false": False,
}
_BINARY_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY_OPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
# Every expression costs a bounded time and memory, however it nests: ((9**999)**999)**999 has
# small exponents, but its value would take gigabytes. Limits far above any real argument:
_MAX_TEXT = 100_000  # characters
_MAX_NODES = 100_000  # syntax-tree nodes
_MAX_DEPTH = 50  # nesting of brackets and operators
_MAX_INT_BITS = 4_096  # every integer, intermediate or final (2**4096 ~ 1e1233)
_MAX_POWER = 1_000  # exponents of **, which also bounds float work


class LiteralLimitError(InvalidInputError):
    """A literal that is well formed but too costly to evaluate (``--set`` never reads it as text)."""


def parse_literal(text: str, *, what: str = "value") -> Any:
    """Parse ``text`` as JSON or a Python literal with number arithmetic.

    Every value, intermediate ones included, is bounded (integers of at most 4096 bits, finite
    floats, exponents up to 1000, 100 000 syntax nodes nested at most 50 deep), so any text is
    answered in bounded time and memory.

    Args:
        text: the user's string, e.g. ``"{'momentum': 0.9}"`` or ``"(0, 0.05*255)"``.
        what: how to name the argument in error messages (``--optimizer-args``).

    Returns:
        Plain Python data: dict, list, tuple, str, int, float, bool or None.

    Raises:
        InvalidInputError: the text is not valid syntax or uses anything but literals and arithmetic.
        LiteralLimitError: the text is too long, too deeply nested or computes too large a number.

    Example:
        >>> parse_literal('{"gnoise": (0, 0.05*255), "some_of": None}')
        {'gnoise': (0, 12.75), 'some_of': None}
    """
    text = text.strip()
    if len(text) > _MAX_TEXT:
        raise LiteralLimitError(f"{what}: the text is longer than {_MAX_TEXT} characters")
    try:
        value = json.loads(text)
    except RecursionError:
        raise LiteralLimitError(
            f"{what}: nested more than {_MAX_DEPTH} levels deep. Received: {shorten(text)}"
        ) from None
    except ValueError:  # JSONDecodeError, or an integer of more than 4300 digits
        pass
    else:
        _check_value(value, what, text)
        return value
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        if "too many nested" in str(exc.msg):
            raise LiteralLimitError(
                f"{what}: nested too deeply ({exc.msg}). Received: {shorten(text)}"
            ) from None
        raise InvalidInputError(
            f"{what}: not valid JSON or Python-literal syntax ({shorten(str(exc.msg), 50)} at "
            f"column {exc.offset}); quote the whole argument for the shell. "
            f"Received: {shorten(text)}"
        ) from None
    except (MemoryError, RecursionError):
        # The parser's own stack gives out on ----...1 hundreds of thousands long.
        raise LiteralLimitError(
            f"{what}: nested too deeply to parse. Received: {shorten(text)}"
        ) from None
    except ValueError as exc:  # a null byte, an integer of more than 4300 digits
        raise InvalidInputError(
            f"{what}: not valid JSON or Python-literal syntax ({shorten(str(exc), 50)}). "
            f"Received: {shorten(text)}"
        ) from None
    _check_tree(tree, what, text)
    value = _evaluate(tree.body, what, text)
    _check_value(value, what, text)
    return value


def _check_tree(tree: ast.AST, what: str, text: str) -> None:
    """Node count and depth, without recursion, before anything is evaluated."""
    count = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > _MAX_NODES:
            raise LiteralLimitError(
                f"{what}: more than {_MAX_NODES} elements and operators. Received: {shorten(text)}"
            )
        if depth > _MAX_DEPTH:
            raise LiteralLimitError(
                f"{what}: nested more than {_MAX_DEPTH} levels deep. Received: {shorten(text)}"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_value(value: Any, what: str, text: str) -> None:
    """JSON's NaN/Infinity, 1e999 and numbers too large are refused like computed ones.

    Walked without recursion, and never deeper than ``_MAX_DEPTH``.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise LiteralLimitError(
                f"{what}: nested more than {_MAX_DEPTH} levels deep. Received: {shorten(text)}"
            )
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for pair in item.items() for child in pair)
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        else:
            _check_number(item, what, text)


def _check_number(value: Any, what: str, text: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise LiteralLimitError(
            f"{what}: {value} is not a finite number; give a finite value. "
            f"Received: {shorten(text)}"
        )
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise LiteralLimitError(
            f"{what}: a number larger than 2**{_MAX_INT_BITS}. Received: {shorten(text)}"
        )


def _evaluate(node: ast.AST, what: str, text: str) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, int | float | str | bool) or node.value is None:
            _check_number(node.value, what, text)
            return node.value
        _refuse(node, what, text)
    if isinstance(node, ast.Name):
        if node.id in _NAMED_CONSTANTS:
            return _NAMED_CONSTANTS[node.id]
        raise InvalidInputError(
            f"{what}: names are not allowed ({shorten(node.id, 30)}); only literals and arithmetic "
            f"on numbers are accepted. Received: {shorten(text)}"
        )
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(item, what, text) for item in node.elts)
    if isinstance(node, ast.List):
        return [_evaluate(item, what, text) for item in node.elts]
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            _refuse(node, what, text)
        result = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            key = _evaluate(key_node, what, text)  # type: ignore[arg-type]  # None (``**``) refused
            if isinstance(key, list | dict) or (isinstance(key, tuple) and not _hashable(key)):
                raise InvalidInputError(
                    f"{what}: dict keys must be numbers, strings or tuples of them. "
                    f"Received: {shorten(text)}"
                )
            result[key] = _evaluate(value_node, what, text)
        return result
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPS:
        operand = _evaluate(node.operand, what, text)
        _require_number(operand, node, what, text)
        return _UNARY_OPS[type(node.op)](operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS:
        left = _evaluate(node.left, what, text)
        right = _evaluate(node.right, what, text)
        _require_number(left, node, what, text)
        _require_number(right, node, what, text)
        _check_cost(node.op, left, right, what, text)
        try:
            result = _BINARY_OPS[type(node.op)](left, right)
        except (ZeroDivisionError, OverflowError) as exc:
            raise InvalidInputError(f"{what}: {exc}. Received: {shorten(text)}") from None
        if not isinstance(result, int | float):  # (-8) ** 0.5 is complex
            raise InvalidInputError(
                f"{what}: arithmetic gave a {type(result).__name__} number, not a real one. "
                f"Received: {shorten(text)}"
            )
        _check_number(result, what, text)
        return result
    _refuse(node, what, text)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _check_cost(op: ast.operator, left: Any, right: Any, what: str, text: str) -> None:
    """Refuse, before computing it, an integer result that would exceed ``_MAX_INT_BITS``."""
    if isinstance(op, ast.Pow):
        if abs(right) > _MAX_POWER:
            raise LiteralLimitError(
                f"{what}: exponent {shorten(str(right), 30)} is too large (at most {_MAX_POWER}). "
                f"Received: {shorten(text)}"
            )
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            bits = max(left.bit_length() - 1, 0) * right
            if abs(left) > 1 and bits > _MAX_INT_BITS:
                raise LiteralLimitError(
                    f"{what}: a number larger than 2**{_MAX_INT_BITS}. Received: {shorten(text)}"
                )
    elif isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _MAX_INT_BITS + 1:
            raise LiteralLimitError(
                f"{what}: a number larger than 2**{_MAX_INT_BITS}. Received: {shorten(text)}"
            )


def _require_number(value: Any, node: ast.AST, what: str, text: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(
            f"{what}: arithmetic is allowed on numbers only (got {shorten(repr(value), 30)}). "
            f"Received: {shorten(text)}"
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
        f"tuples, lists, dicts) and arithmetic on numbers are accepted. Received: {shorten(text)}"
    )


def parse_set_value(text: str, what: str = "--set") -> Any:
    """Parse the VALUE of ``--set KEY=VALUE``: JSON or a safe literal, else the plain string.

    ``--set model.input_shape=[96,96,3]`` gives a list; ``--set model.backbone=xception`` a string.
    A literal that is well formed but too costly (``((9**999)**999)**999``) is refused, not kept
    as text.

    Raises:
        LiteralLimitError: see ``parse_literal``.
    """
    try:
        return parse_literal(text, what=what)
    except LiteralLimitError:
        raise
    except InvalidInputError:
        return text
