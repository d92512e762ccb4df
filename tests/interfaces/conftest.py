import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

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
