"""atheris harness for the pure HL7 layers: the MLLP deframer, decode, parse, the MSH header, field access and the
ACK built for whatever header a message yields. No database: tests/interfaces/test_fuzz_hl7.py drives the whole
handler (message_receive) for a short while in the test suite.

    .venv/bin/python -m bench.fuzz.hl7 -max_total_time=60            corpus in var/fuzz/hl7, seeded on first run
    .venv/bin/python -m bench.fuzz.hl7 var/fuzz/crash-<hash>          replay one finding

Allowed to escape: FrameError from the deframer (the connection is closed), Rejected from decode and parse (AR).
Anything else, or a broken invariant (Finding), is a finding: libFuzzer stops and writes the input to
var/fuzz/crash-<hash>.
"""

import os
from datetime import UTC, datetime

import atheris

from bench.fuzz import libfuzzer_args

with atheris.instrument_imports(include=["interfaces", "hl7"]):
    from interfaces.hl7v2 import (
        Header,
        MessageError,
        Reader,
        Rejected,
        acknowledgement,
        decode,
        header,
        header_from_bytes,
        parse,
    )
    from interfaces.mllp import END, START, FrameError, FrameReader

SEEDS = [
    "MSH|^~\\&|CIS|HOSP|RIS|RAD|20261128101010||ADT^A04^ADT_A01|C1|P|2.5.1|||||UNICODE UTF-8\rEVN||20261128101010\r"
    "PID|1||P100^^^HOSP^MR||M\\XC3BC\\ller^J\u00fcrgen^K^^Dr||19700102|M|||Hauptstr. 1^^Berlin^^10115^DE||030 1234567"
    "\rPV1|1|O",
    "MSH|^~\\&|CIS|HOSP|RIS|RAD|20261128101010||ORM^O01^ORM_O01|C2|P|2.5.1|||AL|NE||8859/1\rPID|1||P100^^^HOSP^MR||"
    "O\\T\\Brien^Sean\rPV1|1|O|||||||||||||||||V123\rORC|NW|PL1^CIS||||SC||^^^20261129090000^^S\r"
    "OBR|1|PL1^CIS||CTHEAD^CT head^99RIS|||||||||||||||||||CT|||^^^20261129090000^^S||||^Headache\r"
    "DG1|1||R51.9^Headache^I10",
    "MSH|^~\\&|CIS|HOSP|RIS|RAD|20261128101010||OMI^O23^OMI_O23|C3|P|2.5.1\rPID|1||P1\rORC|CA|PL1^CIS\r"
    "TQ1|1||||||20261129090000|||A\rOBR|1|PL1^CIS||CTHEAD\rIPC|ACC1",
]
# libFuzzer dictionary: the tokens a mutation should know (HL7 v2.5.1 2.5 and 2.7, MLLP Appendix C).
TOKENS = ["MSH|^~\\&|", "|", "^", "~", "&", "\\", "\r", "\n", "\\X00\\", "\\X0D\\", "\\F\\", "\\.br\\", "\\XC3A9\\"]
TOKENS += ["ADT^A04", "ADT^A40", "ORM^O01", "OMI^O23", "PID|", "MRG|", "ORC|", "OBR|", "TQ1|", "IPC|", "|2.5.1|"]
TOKENS += ["UNICODE UTF-8", "8859/1", "\x0b", "\x1c\r", '""']
CODES = ("AA", "AE", "AR", "CA", "CE", "CR")


class Finding(Exception):
    """A broken invariant; libFuzzer reports it as a crash, like any other exception that escapes."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise Finding(what)


def check_ack(original: Header, code: str, failure: MessageError | None) -> None:
    ack = acknowledgement(
        original,
        code,
        control_id="FUZZ",
        timestamp=datetime(2026, 1, 5, tzinfo=UTC),
        application="RIS",
        facility="RAD",
        error=failure,
    )
    expect("\x00" not in ack, "a NUL in the ACK")
    segments = [segment.split("|") for segment in ack.rstrip("\r").split("\r")]
    names = [segment[0] for segment in segments]
    expect(names == ["MSH", "MSA", *(["ERR"] if failure else [])], f"ACK segments {names}")
    expect([len(s) for s in segments] == [18, 4, *([9] if failure else [])], "fields added to the ACK")
    expect(header(Reader(parse(decode(ack.encode())))).message_type == "ACK", "the ACK reads back")


def check_message(data: bytes, code: str) -> None:
    heads = [header_from_bytes(data)]
    try:
        reader = Reader(parse(decode(data)))
    except Rejected:
        reader = None
    if reader is not None:
        heads.append(header(reader))
        for segment in reader.message:
            for field in range(len(segment) + 1):
                for component, repetition in ((1, 1), (2, 1), (1, 2), (4, 3)):
                    expect(isinstance(reader.get(segment, field, component, repetition), str), "a field")
                expect(reader.repetitions(segment, field) >= 0, "repetitions")
    failure = MessageError(data[:80].decode("utf-8", "replace"), code=207, location=("PID", 1, 3))
    for head in heads:
        check_ack(head, code, None)
        check_ack(head, code, failure)


def check_deframer(stream: bytes, limit: int, sizes: list[int]) -> list[bytes]:
    reader, fed, out, position, messages = FrameReader(max_bytes=limit), 0, 0, 0, []
    for size in sizes:
        piece = stream[position : position + size]
        position += size
        fed += len(piece)
        try:
            got = reader.feed(piece)
        except FrameError:
            expect(reader.pending == 0, "a refused frame is dropped")
            continue
        expect(all(len(m) <= limit and END not in m for m in got), "a message over the limit, or holding <FS><CR>")
        out += sum(len(message) + len(START) + len(END) for message in got)
        expect(out + reader.pending <= fed, "more bytes out than in")
        expect(reader.pending <= limit, "more pending than the limit")
        messages += got
    return messages


def test_one_input(data: bytes) -> None:
    """Byte 0 picks the mode and the ACK code; stream mode reads a limit (bytes 1-2) and read sizes (3-6)."""
    selector = data[0] if data else 0
    code = CODES[(selector >> 2) % len(CODES)]
    if selector % 4:  # one message, raw (libFuzzer's mutations of the seeds land here)
        check_message(data[1:], code)
        return
    limit = 1 + int.from_bytes(data[1:3], "little") % 4096
    sizes = [1 + size for size in data[3:7]]
    stream = data[7:]
    for message in check_deframer(stream, limit, [*sizes, len(stream)]):
        check_message(message, code)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ris.settings")
    seeds = [b"\x01" + seed.encode() for seed in SEEDS]
    seeds.append(b"\x00\x00\x04\x10\x40\x80\xff" + b"".join(START + seed.encode() + END for seed in SEEDS))
    atheris.Setup(libfuzzer_args("hl7", seeds, TOKENS), test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
