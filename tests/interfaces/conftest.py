import importlib
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from hl7apy import load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from interfaces import listener
from tests.conftest import free_port, need_tool
from tests.factories import ProcedureTypeFactory, RoomFactory


@pytest.fixture
def hl7_port(db):
    """The MLLP listener, serving the test database from its own threads."""
    port = free_port()
    server = listener.start("127.0.0.1", port, block=False)
    yield port
    server.shutdown()
    server.server_close()


@pytest.fixture
def catalog(db):
    """A CT room (open 07:00-19:00 every day) and the procedures the test messages order."""
    room = RoomFactory(name="CT 1", station_ae_title="CT1", modality__code="CT", modality__name="CT")
    head = ProcedureTypeFactory(code="CTHEAD", name="CT head", modality=room.modality, default_duration_minutes=20)
    chest = ProcedureTypeFactory(code="CTCHEST", name="CT chest", modality=room.modality, default_duration_minutes=20)
    return {"room": room, "head": head, "chest": chest}


def msh(control_id: str, message_type: str, *, version: str = "2.5.1", charset: str = "UNICODE UTF-8", extra=""):
    """An MSH segment from the CIS; `extra` holds MSH-13.. (e.g. "||AL|NE" for enhanced mode)."""
    fields = ["MSH", "^~\\&", "CIS", "HOSP", "RIS", "RAD", "20261128101010", "", message_type, control_id, "P"]
    head = "|".join([*fields, version])
    tail = extra.split("|") if extra else []
    tail += [""] * (5 - len(tail))
    return head + "|" + "|".join([*tail[:5], charset])


def pid(mrn: str = "P100", name: str = "Müller^Jürgen^K^^Dr", birth: str = "19700102", sex: str = "M") -> str:
    return f"PID|1||{mrn}^^^HOSP^MR||{name}||{birth}|{sex}|||Hauptstr. 1^^Berlin^^10115^DE||030 1234567"


def adt(control_id: str, trigger: str = "A04", **patient) -> str:
    return "\r".join([msh(control_id, f"ADT^{trigger}^ADT_A01"), "EVN||20261128101010", pid(**patient), "PV1|1|O"])


def orm(
    control_id: str,
    control: str = "NW",
    *,
    placer: str = "PL1",
    code: str = "CTHEAD",
    status: str = "",
    start: str = "",
    mrn: str = "P100",
    version: str = "2.5.1",
    extra: str = "",
) -> str:
    timing = f"^^^{start}^^R" if start else ""
    return "\r".join(
        [
            msh(control_id, "ORM^O01^ORM_O01", version=version, extra=extra),
            pid(mrn=mrn),
            "PV1|1|O|||||||||||||||||V123",
            segment("ORC", {1: control, 2: f"{placer}^CIS", 5: status, 7: timing}),
            segment(
                "OBR",
                {1: "1", 2: f"{placer}^CIS", 4: f"{code}^CT head^99RIS", 24: "CT", 27: timing, 31: "^Headache"},
            ),
            "DG1|1||R51.9^Headache^I10",
        ]
    )


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment from its non-empty fields by number."""
    return "|".join([name, *(fields.get(n, "") for n in range(1, max(fields) + 1))])


def msh_segment(fields: dict[int, str]) -> str:
    """An MSH segment from its fields by number: MSH-1 is the field separator itself, MSH-2 the encoding characters."""
    fields = {1: "|", 2: "^~\\&", **fields}
    return "MSH|" + "|".join(fields.get(n, "") for n in range(2, max(fields) + 1))


def read_frame(sock: socket.socket) -> bytes:
    """One ACK frame, or what came before the listener closed the connection."""
    data = b""
    while not data.endswith(b"\x1c\x0d"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def mllp_send(port: int, path) -> list[str]:
    """Send a file of messages with the hl7 package's mllp_send (the CIS stand-in); return the ACKs it printed."""
    beside_python = Path(sys.executable).parent / "mllp_send"  # installed with the hl7 package, in the venv
    binary = str(beside_python) if beside_python.exists() else need_tool("mllp_send")
    result = subprocess.run(
        [binary, "--loose", "-p", str(port), "-f", str(path), "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [ack for ack in result.stdout.split("MSH|")[1:]]


def write_messages(path, *messages: str) -> None:
    """A file as mllp_send --loose reads it: each message starts with MSH|^~\\&|, line ends \\n."""
    path.write_text("\n".join(m.replace("\r", "\n") for m in messages) + "\n", encoding="utf-8")


def tomorrow_at(hour: int) -> str:
    return f"{date.fromordinal(date.today().toordinal() + 1):%Y%m%d}{hour:02d}0000"


def issue_certificates(folder: Path, *names: str) -> Path:
    """A CA of its own in `folder` ("Other CA") and, for each name, a certificate for 127.0.0.1 that CA signed:
    the credentials of a peer the RIS must not trust (the `certificates` fixture makes the ones it trusts)."""
    from tests.conftest import _openssl

    folder.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "rsa:2048", "-nodes"]
    _openssl(
        "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=Other CA", cwd=folder
    )
    for name in names:
        _openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
        (folder / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        signer = ["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext"]
        _openssl("x509", "-req", "-in", f"{name}.csr", *signer, "-out", f"{name}.pem", cwd=folder)
    return folder


# --- ACKs, checked against the standard of the version they declare ------------------------------------------


def _hl7_tables(version: str) -> dict:
    """hl7apy's HL7 tables of a version (it ships none for 2.3: those of 2.3.1, which kept its codes, stand in)."""
    name = "2.3.1" if version == "2.3" else version
    return importlib.import_module(f"hl7apy.v{name.replace('.', '_')}.tables").TABLES


def assert_valid_ack(ack: str, *, version: str | None = None) -> Message:
    """Parse an ACK with hl7apy STRICT in the version its MSH-12 declares (asserted to be `version` when given),
    validate it, and check the codes hl7apy leaves alone: MSA-1 (table 0008), MSH-18 (0211), ERR codes (0357) and
    severity (0516). Returns the parsed message.

    A v2.3 ACK has no MSH-9 structure component, so hl7apy would look for a structure "ACK_<event>" that v2.3 does
    not define: the v2.3 ACK structure is handed to it instead.
    """
    segments = [segment.split("|") for segment in ack.split("\r") if segment]
    msh = segments[0]
    declared = msh[11]
    if version is not None:
        assert declared == version, f"ACK in {declared}, the sender's version is {version}"
    message_type = msh[8].split("^")
    profile = None
    if declared == "2.3":
        assert len(message_type) == 2, f"v2.3 MSH-9 is type^event: {msh[8]}"
        profile = {"_".join(message_type): load_reference("ACK", "Message", "2.3")}
    else:
        assert message_type[2:] == ["ACK"], f"MSH-9 names the ACK structure from v2.3.1: {msh[8]}"
    message = parse_message(ack, find_groups=True, validation_level=VALIDATION_LEVEL.STRICT, message_profile=profile)
    assert message.version == declared
    assert message.validate()
    assert message_type[0] == "ACK"
    tables = _hl7_tables(declared)
    charset = msh[17] if len(msh) > 17 else ""
    assert charset == "" or charset in tables["HL70211"][1], f"MSH-18 {charset!r} is not in {declared} table 0211"
    if charset == "":
        assert ack.isascii(), "an ACK without MSH-18 is ASCII"
    by_id: dict[str, list[list[str]]] = {}
    for fields in segments:
        by_id.setdefault(fields[0], []).append(fields)
    assert set(by_id) <= {"MSH", "MSA", "ERR"}
    [msa] = by_id["MSA"]
    assert msa[1] in tables["HL70008"][1]
    assert msa[2], "MSA-2 names the control ID answered"
    modern = tuple(int(n) for n in declared.split(".")) >= (2, 5)
    for err in by_id.get("ERR", []):
        if modern:
            assert err[1] == "", "ERR-1 is deprecated from v2.5: ERR-2 holds the location"
            code = err[3].split("^")
            assert code[0] in tables["HL70357"][1]
            assert code[2] == "HL70357"
            assert err[4] in tables["HL70516"][1]
        else:
            assert len(err) == 2, "ERR has one field before v2.5 (ERR-1, repeating)"
            for location in err[1].split("~"):
                code = location.split("^")[3].split("&")
                assert code[0] in tables["HL70357"][1], location
                assert code[2] == "HL70357", location
    return message


def err_fields(ack: str) -> list[list[str]]:
    """Each ERR segment of an ACK, split into fields (index n is ERR-n)."""
    return [segment.split("|") for segment in ack.split("\r") if segment.startswith("ERR|")]


def receive_fields(text: str) -> dict[str, list[str]]:
    """Send one message through interfaces.services.message_receive; its ACK's segments by name, split in fields."""
    from interfaces.services import message_receive

    ack = message_receive(text.encode())
    return {segment.split("|")[0]: segment.split("|") for segment in ack.split("\r") if segment}


def error_of(ack: dict[str, list[str]]) -> tuple[str, str, str]:
    """(location, table 0357 code, reason) of the ACK's ERR: v2.5+ ERR-2 / ERR-3 / ERR-8; v2.3 and v2.4 carry them
    in ERR-1 (ELD: segment^sequence^field^code&text&table), the reason in MSA-3."""
    err = ack["ERR"]
    if len(err) > 3 and err[2]:
        return err[2], err[3].split("^")[0], err[8]
    parts = err[1].split("^")
    return "^".join(parts[:3]), parts[3].split("&")[0], ack["MSA"][3]


@pytest.fixture
def quick_delivery(settings):
    """Delivery gives up fast and retries at once (tasks run in-process: tests/conftest.py _tasks_in_process)."""
    settings.RIS_HL7_ACK_TIMEOUT_SECONDS = 2
    settings.RIS_HL7_RETRY_BASE_SECONDS = 0
    settings.RIS_HL7_MAX_ATTEMPTS = 3


@pytest.fixture
def peers():
    """Start PACS (or CIS) stand-ins: `peers(port=None, **options)` returns a started Peer, stopped after the test."""
    from tests.interfaces.test_delivery import Peer

    started = []

    def start(port: int | None = None, **kwargs):
        peer = Peer(port or free_port(), **kwargs).start()
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()
