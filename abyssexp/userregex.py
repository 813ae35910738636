"""Regular expressions written by users (``data split --group-by``) run on RE2: matching time is
linear in the text whatever the pattern, so ``^(a+)+$`` on ``aaaa…a!`` returns at once instead of
backtracking for ever. RE2 has no backreferences or look-arounds; such a pattern is refused with
a message. Its memory is capped (``MAX_MEM``)."""

from __future__ import annotations

from typing import Any

from abyssexp.errors import InvalidInputError, printable

#: Memory RE2 may use for one compiled pattern.
MAX_MEM = 8 << 20
#: Longest pattern accepted.
MAX_PATTERN = 1000


def compile_user_regex(text: str, what: str, example: str) -> Any:
    """The compiled RE2 pattern (``search``, ``groups`` as in ``re``).

    Raises:
        InvalidInputError: too long, or not a pattern RE2 accepts (the message says why).
    """
    import re2

    shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
    if len(text) > MAX_PATTERN:
        raise InvalidInputError(f"{what} {shown}: longer than {MAX_PATTERN} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_MEM
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        why = exc.args[0].decode(errors="replace") if exc.args else "invalid"
        # RE2 quotes the pattern's text, which may hold a newline: the message stays one line
        why = printable(why.replace("\n", "\\n").replace("\r", "\\r"))
        raise InvalidInputError(
            f"{what} {shown}: not a valid regular expression ({why}; backreferences and "
            f"look-arounds are not supported, matching is linear-time); e.g. {example}"
        ) from None
