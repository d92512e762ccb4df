"""CSV the RIS writes opens in a spreadsheet as data: no cell runs as a formula (OWASP CSV injection)."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from ris import csvsafe

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil.example","Click")', '\'=HYPERLINK("http://evil.example","Click")'),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("+1 555 0100", "'+1 555 0100"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("O'Brien", "O'Brien"),
        ("Smith-Jones", "Smith-Jones"),
        ("", ""),
        ("-12.50", "-12.50"),
        ("-3", "-3"),
    ],
)
def test_a_cell_that_would_start_a_formula_is_written_as_text(value, written):
    out = io.StringIO()
    csvsafe.writer(out).writerow([value])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [written]


def test_numbers_stay_numbers():
    values = [-5, Decimal("-1.25"), -0.5, None]
    assert [csvsafe.safe_cell(value) for value in values] == values


def test_every_csv_the_ris_writes_goes_through_the_safe_writer():
    """A new export must use ris.csvsafe.writer, not csv.writer or csv.DictWriter directly."""
    offenders = [
        str(path.relative_to(ROOT))
        for app in ("ris", "scheduling", "worklist", "interfaces", "reporting", "billing", "dashboard")
        for path in (ROOT / app).rglob("*.py")
        if path.name != "csvsafe.py" and ("csv.writer(" in path.read_text() or "csv.DictWriter(" in path.read_text())
    ]
    assert offenders == []
