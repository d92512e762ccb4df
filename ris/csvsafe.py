"""CSV that a spreadsheet opens as data: every file the RIS writes as CSV goes through `writer()`.

A cell that starts with = + - @ (or a tab or carriage return before one) is run as a formula by Excel, LibreOffice
and Google Sheets (OWASP "CSV Injection"): `=HYPERLINK(...)` in a patient's name would become a link in the billing
clerk's sheet, `-2+3+cmd|...` a command. Such a cell gets a leading apostrophe, which spreadsheets show as text.
Numbers stay numbers: an int, a Decimal or a string that is only a number ("-12.50") is written as it is.
"""

import csv
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet should read it: text that would start a formula is prefixed with an apostrophe."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeWriter:
    """csv.writer with every cell passed through `safe_cell`."""

    def __init__(self, out, **options):
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out, **options) -> SafeWriter:
    """A CSV writer for `out` (a file or an HttpResponse) that neutralises formula cells."""
    return SafeWriter(out, **options)
