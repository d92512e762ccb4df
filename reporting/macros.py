"""Macro tokens in report text: the one rule of what `.name` counts as a macro, for saving, signing and the editor.

A token is a `.` at the start of a word (the text's start or after whitespace) followed by a name that starts with a
letter and runs over letters, digits, `_` and `-`. So "3.5 cm" (the `.` is inside a word), "e.g." and "..." (no
letter after a `.` that starts a word) and ".5 cm" (a digit) are not tokens. The pattern is written so that the
editor's script can use it as it is (JavaScript RegExp and Python re read it alike).
"""

import re
from collections.abc import Mapping

NAME = r"[A-Za-z][A-Za-z0-9_-]*"
TOKEN_PATTERN = rf"(?<!\S)\.({NAME})(?![A-Za-z0-9_-])"
TOKEN = re.compile(TOKEN_PATTERN)
NAME_PATTERN = rf"^{NAME}$"  # what a macro may be called: something its token can name


def macro_tokens(text: str) -> list[str]:
    """The names of the macro tokens in `text`, in order (repeats included)."""
    return TOKEN.findall(text)


def expand_macros(text: str, macros: Mapping[str, str]) -> str:
    """`text` with each token of a known macro replaced by the macro's text; unknown tokens are left as typed."""
    return TOKEN.sub(lambda match: macros.get(match.group(1), match.group(0)), text)
