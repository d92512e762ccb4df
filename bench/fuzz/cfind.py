"""atheris harness for the Modality Worklist C-FIND identifier translation: fuzzed bytes become an identifier as
pynetdicom hands it to the handler, and worklist.translate.parse_query reads it.
No database: tests/worklist/test_fuzz_cfind.py drives the selector and the handler in the test suite.

    .venv/bin/python -m bench.fuzz.cfind -max_total_time=60           corpus in var/fuzz/cfind, seeded on first run
    .venv/bin/python -m bench.fuzz.cfind var/fuzz/crash-<hash>        replay one finding

Byte 0 picks the time zone and the mode: raw (the rest is an Implicit VR Little Endian dataset, decoded by
pynetdicom; one it cannot decode is C310 and not looked at further) or structured (an atheris.FuzzedDataProvider
picks worklist keys, their values and the SPS items). Allowed to escape parse_query: InvalidQuery (A900). Anything
else, or a start bound the database cannot compare in UTC (a Finding), is a finding: libFuzzer stops and writes the
input to var/fuzz/crash-<hash>. (The response plan is not fuzzed here: the handler answers C001 when it fails.)
"""

import logging
import os
import struct
import warnings
from datetime import UTC
from io import BytesIO
from zoneinfo import ZoneInfo

import atheris
import django

from bench.fuzz import libfuzzer_args

# Instrumented before django.setup(), which imports pydicom: coverage of pydicom's value conversion guides the fuzzer.
with atheris.instrument_imports(include=["worklist.translate", "ris.text", "pydicom"]):
    from pydicom.tag import Tag
    from pynetdicom.dsutils import decode

    from ris.text import fold
    from worklist.translate import InvalidQuery, parse_query

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ris.settings")
django.setup()

ROOT_KEYS = [
    "SpecificCharacterSet",
    "AccessionNumber",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "QueryRetrieveLevel",
    "AdmissionID",
    "RequestedProcedureID",
    "StudyDate",
]
SPS_KEYS = [
    "Modality",
    "ScheduledStationAETitle",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepID",
    "ScheduledStationName",
    "ScheduledProcedureStepLocation",
    "ScheduledProcedureStepStatus",
]
SPS = "ScheduledProcedureStepSequence"
ZONES = [UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Pacific/Kiritimati")]
VALUES = [b"", b"*", b"?", b"M*^J?", b"=Yamada", b"20261128-", b"-20261128", b"00010101-99991231", b"0930-1100"]
VALUES += [b"ISO_IR 100", b"ISO 2022 IR 87", b"ISO_IR 192", b"CT1", b"SCHEDULED\\ARRIVED", b"1.2.3\\1.2.4"]
TOKENS = [value.decode() for value in VALUES if value] + ["\\", "^", "=", "-", "\x1b$B", "\x1b(B"]


class Finding(Exception):
    """A broken invariant; libFuzzer reports it as a crash, like any other exception that escapes."""


def _element(keyword: str, value: bytes) -> bytes:
    """An Implicit VR Little Endian element (PS3.5 7.1.3), padded to an even length."""
    tag = Tag(keyword)
    if len(value) % 2:
        value += b" "
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def _dataset(elements: dict[str, bytes]) -> bytes:
    return b"".join(_element(keyword, elements[keyword]) for keyword in sorted(elements, key=Tag))


def _item(body: bytes) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body


def _pick(provider: atheris.FuzzedDataProvider, choices: list):
    return choices[provider.ConsumeIntInRange(0, len(choices) - 1)]


def _value(provider: atheris.FuzzedDataProvider) -> bytes:
    if provider.ConsumeBool():
        return _pick(provider, VALUES)
    return provider.ConsumeBytes(provider.ConsumeIntInRange(0, 40))


def structured(provider: atheris.FuzzedDataProvider) -> bytes:
    """The worklist keys with fuzzed values; the SPS sequence absent, empty, or with items of fuzzed keys."""
    root = {_pick(provider, ROOT_KEYS): b"" for _ in range(provider.ConsumeIntInRange(0, 8))}
    root = {keyword: _value(provider) for keyword in root}
    items = provider.ConsumeIntInRange(-1, 2)  # -1: no sequence
    if items >= 0:
        bodies = []
        for _ in range(items):
            keys = {_pick(provider, SPS_KEYS) for _ in range(provider.ConsumeIntInRange(0, 6))}
            bodies.append(_dataset({keyword: _value(provider) for keyword in sorted(keys)}))
        root[SPS] = b"".join(_item(body) for body in bodies)
    return _dataset(root)


def test_one_input(data: bytes) -> None:
    """Byte 0: bit 0 raw or structured, bits 1-2 the time zone; the rest, the dataset or the provider's bytes."""
    selector = data[0] if data else 0
    zone = ZONES[(selector >> 1) % len(ZONES)]
    stream = data[1:] if selector & 1 else structured(atheris.FuzzedDataProvider(data[1:]))
    try:
        identifier = decode(BytesIO(stream), True, True)
    except Exception:
        return  # the handler answers C310: unable to decode
    try:
        query = parse_query(identifier, tz=zone, fold=fold)
    except InvalidQuery:
        return  # A900
    for bound in (query.start.start, query.start.end) if query.start else ():
        if bound is not None:
            try:
                bound.astimezone(UTC)
            except OverflowError as error:
                raise Finding("a start bound the database cannot compare in UTC") from error


def main() -> None:
    warnings.simplefilter("ignore")  # pydicom warns of every value that breaks its VR: they are the point here
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    sps = _item(_dataset({"Modality": b"CT", "ScheduledProcedureStepStartDate": b"20261128-20261130"}))
    seeds = [
        _dataset({"PatientName": b"M\xfcller^J*", "SpecificCharacterSet": b"ISO_IR 100", SPS: sps}),
        _dataset({"PatientID": b"P1", "AccessionNumber": b"*", "PatientBirthDate": b"19700101-", SPS: b""}),
    ]
    seeds = [b"\x01" + seed for seed in seeds]  # raw, in UTC
    atheris.Setup(libfuzzer_args("cfind", seeds, TOKENS), test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
