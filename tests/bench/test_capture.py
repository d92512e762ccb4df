"""Server-side C-FIND times from a loopback capture (bench/capture.py) and how the worklist bench's table uses them.
Synthetic captures are written here byte by byte, as tcpdump -i lo writes them; one test runs tcpdump itself."""

import os
import struct

import pytest
from pydicom import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityWorklistInformationFind

from bench.capture import SNAPLEN, capturing, query_times, read_pcap, server_side, window_full_times
from bench.worklist_data import Cell, Run, table, verdict
from tests.conftest import free_port, need, need_tool

SERVER, CLIENT, OTHER = 11112, 40001, 40002
START = 1_765_000_000  # seconds since the epoch of the first record


def element(group: int, number: int, value: bytes) -> bytes:
    """A command set element, Implicit VR Little Endian (PS3.7 6.3.1)."""
    return struct.pack("<HHI", group, number, len(value)) + value


def command(field: int, message_id: int, *, status: int | None = None) -> bytes:
    """A C-FIND command set: the elements in tag order behind their group length."""
    elements = element(0x0000, 0x0002, b"1.2.840.10008.5.1.4.31")
    elements += element(0x0000, 0x0100, struct.pack("<H", field))
    elements += element(0x0000, 0x0110 if status is None else 0x0120, struct.pack("<H", message_id))
    if status is not None:
        elements += element(0x0000, 0x0900, struct.pack("<H", status))
    return element(0x0000, 0x0000, struct.pack("<I", len(elements))) + elements


def p_data(*pdvs: tuple[int, bytes]) -> bytes:
    """A P-DATA-TF PDU (PS3.8 9.3.5) of (message control header, fragment) PDVs, presentation context 1."""
    items = b"".join(struct.pack(">IBB", len(data) + 2, 1, header) + data for header, data in pdvs)
    return struct.pack(">BBI", 0x04, 0, len(items)) + items


def pdu(pdu_type: int, size: int) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, size) + bytes(size)


def find_request(message_id: int) -> list[bytes]:
    """A C-FIND-RQ as two P-DATA PDUs: the command set, then the identifier."""
    return [p_data((0x03, command(0x0020, message_id))), p_data((0x02, bytes(300)))]


def find_response(message_id: int, status: int, identifier: int = 0) -> bytes:
    """A response in one P-DATA of two PDVs (command, then the identifier if any), as the RIS sends it."""
    pdvs = [(0x03, command(0x8020, message_id, status=status))]
    return p_data(*pdvs, (0x02, bytes(identifier))) if identifier else p_data(*pdvs)


class Wire:
    """The TCP segments of a capture, as Ethernet frames on lo, each with its time in milliseconds from START."""

    def __init__(self):
        self.frames: list[tuple[float, bytes, int]] = []  # (ms, frame as captured, length on the wire)
        self.seq = {}

    def send(
        self, ms: float, source: int, destination: int, payload: bytes = b"", *, again: int = 0, window: int = 512
    ) -> None:
        """A segment with `payload` (none: a pure ACK); `again`: resend the bytes that many bytes back; `window`:
        the receive window its sender advertises (0: full)."""
        key = (source, destination)
        seq = self.seq.setdefault(key, 1000 * source) - again
        self.seq[key] = seq + len(payload) if not again else self.seq[key]
        tcp = struct.pack(">HHIIBBHHH", source, destination, seq, 0, 8 << 4, 0x18, window, 0, 0) + bytes(12)
        ip_length = 20 + len(tcp) + len(payload)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, ip_length, 0, 0x4000, 64, 6, 0, b"\x7f\0\0\1", b"\x7f\0\0\1")
        frame = bytes(12) + b"\x08\x00" + ip + tcp + payload
        self.frames.append((ms, frame[:SNAPLEN], len(frame)))

    def other_frame(self, ms: float) -> None:
        """An IPv6 frame: skipped by the reader."""
        frame = bytes(12) + b"\x86\xdd" + bytes(60)
        self.frames.append((ms, frame, len(frame)))

    def pcap(self, order: str = "<", nanoseconds: bool = False) -> bytes:
        magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
        data = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, SNAPLEN, 1)
        for ms, frame, length in self.frames:
            fraction = round(ms * (1_000_000 if nanoseconds else 1000))
            data += struct.pack(order + "IIII", START, fraction, len(frame), length) + frame
        return data


def association_with_two_finds() -> Wire:
    """Setup, two C-FINDs (several response segments each; ACKs, a retransmission and another connection's data
    between them), release."""
    wire = Wire()
    wire.send(0.0, CLIENT, SERVER, pdu(0x01, 200))  # A-ASSOCIATE-RQ
    wire.send(0.4, SERVER, CLIENT, pdu(0x02, 180))  # A-ASSOCIATE-AC
    command_pdu, identifier_pdu = find_request(1)
    wire.send(10.0, CLIENT, SERVER, command_pdu[:12])  # the first C-FIND starts: PDU and PDV headers, as DCMTK
    wire.send(10.05, CLIENT, SERVER, command_pdu[12:])  # ... then the command set
    wire.send(10.1, SERVER, CLIENT)  # ACK
    wire.send(10.3, CLIENT, SERVER, identifier_pdu)
    wire.send(12.0, SERVER, CLIENT, find_response(1, 0xFF00, 2000) + find_response(1, 0xFF00, 2000))
    wire.send(12.1, CLIENT, SERVER)  # ACK
    wire.other_frame(12.5)
    wire.send(13.0, OTHER, SERVER, find_request(9)[0])  # another connection: its own association
    wire.send(14.0, SERVER, CLIENT, find_response(1, 0xFF00, 3000))
    wire.send(16.0, SERVER, CLIENT, find_response(1, 0x0000))  # the final response: the first C-FIND ends
    wire.send(16.2, CLIENT, SERVER)  # ACK
    wire.send(19.0, SERVER, CLIENT, find_response(1, 0x0000), again=len(find_response(1, 0x0000)))  # retransmitted
    wire.send(30.0, CLIENT, SERVER, b"".join(find_request(2)))  # the second, in one segment
    wire.send(31.0, SERVER, CLIENT, find_response(2, 0xFF00, 1500))
    wire.send(31.5, CLIENT, SERVER, window=0)  # the client's receive buffer full: the server must wait
    wire.send(31.7, CLIENT, SERVER, window=0)
    wire.send(32.75, CLIENT, SERVER)  # ... open again
    wire.send(33.0, SERVER, CLIENT, find_response(2, 0xFF00, 1500) + find_response(2, 0xFF00, 1500))
    wire.send(37.5, SERVER, CLIENT, find_response(2, 0x0000))  # the second ends
    wire.send(37.6, CLIENT, SERVER)  # ACK
    wire.send(45.0, CLIENT, SERVER, pdu(0x05, 4))  # A-RELEASE-RQ
    wire.send(45.2, SERVER, CLIENT, pdu(0x06, 4))  # A-RELEASE-RP
    return wire


@pytest.mark.parametrize(("order", "nanoseconds"), [("<", False), (">", True)], ids=["little-us", "big-ns"])
def test_capture_gives_each_cfind_from_its_request_to_its_last_response(order, nanoseconds):
    segments = read_pcap(association_with_two_finds().pcap(order, nanoseconds))
    assert query_times(segments, SERVER) == pytest.approx([6.0, 7.5])


def test_time_the_clients_receive_window_was_full_is_told_per_cfind():
    segments = read_pcap(association_with_two_finds().pcap())
    assert window_full_times(segments, SERVER) == pytest.approx([0.0, 1.25])


def test_warm_up_queries_are_dropped_when_the_count_is_the_clients():
    segments = read_pcap(association_with_two_finds().pcap())
    assert server_side(segments, SERVER, made=2, warmup=1) == (pytest.approx([7.5]), "")


def test_capture_holding_fewer_cfinds_than_the_client_made_gives_no_server_side_figure():
    wire = association_with_two_finds()
    wire.frames = wire.frames[:-3]  # cut short after the second C-FIND's last response: no release seen
    segments = read_pcap(wire.pcap())
    assert query_times(segments, SERVER) == pytest.approx([6.0])
    times, why = server_side(segments, SERVER, made=2, warmup=1)
    assert (times, why) == ([], "capture holds 1 C-FINDs, the client made 2")

    cell = Cell(10_000, "a", "full", "findscu", matches=40)
    cell.runs = {"ris": [Run([50, 52, 54], server_ms=[20, 21, 22])], "wlmscpfs": [Run([900], server_error=why)]}
    assert cell.server_median("wlmscpfs") is None
    assert verdict(cell) == "MISS: > 40 ms (client-side)"  # the RIS's server-side 21 ms is not compared with 900


def test_only_cfind_requests_count_and_one_ended_by_an_abort_does_not():
    wire = Wire()
    wire.send(0.0, CLIENT, SERVER, pdu(0x01, 200))  # A-ASSOCIATE-RQ
    wire.send(0.4, SERVER, CLIENT, pdu(0x02, 180))
    wire.send(2.0, CLIENT, SERVER, p_data((0x03, command(0x0030, 1))))  # C-ECHO-RQ: not a query
    wire.send(3.0, SERVER, CLIENT, p_data((0x03, command(0x8030, 1, status=0))))
    wire.send(10.0, CLIENT, SERVER, b"".join(find_request(2)))
    wire.send(14.0, SERVER, CLIENT, find_response(2, 0x0000))
    wire.send(20.0, CLIENT, SERVER, b"".join(find_request(3)))
    wire.send(21.0, SERVER, CLIENT, find_response(3, 0xFF00, 500))
    wire.send(22.0, CLIENT, SERVER, pdu(0x07, 4))  # A-ABORT before the final response: the query never ended
    assert query_times(read_pcap(wire.pcap()), SERVER) == pytest.approx([4.0])


def test_ratios_and_verdict_use_server_side_figures_when_every_server_has_them():
    cell = Cell(100_000, "a", "full", "pynetdicom", matches=40)
    cell.runs = {
        "ris": [Run([70, 75, 80], server_ms=[20, 22, 30])],
        "wlmscpfs": [Run([1000], server_ms=[990])],
        "orthanc": [Run([800], server_ms=[770])],
    }
    assert cell.ratio("wlmscpfs") == pytest.approx(45.0)
    assert verdict(cell) == "ok (server-side)"
    printed = table([cell], runs=1)
    assert "45.0x" in printed
    assert "srv" in printed.splitlines()[-1]
    cell.runs["orthanc"] = [Run([800])]  # no capture for Orthanc: the whole line on client-side figures
    assert verdict(cell) == "MISS: > 40 ms, wlmscpfs < 30x, orthanc < 30x (client-side)"


@pytest.mark.slow
def test_tcpdump_capture_finds_every_cfind_a_pynetdicom_scu_makes():
    program = need_tool("tcpdump")  # Debian package tcpdump (.ci/run installs it)
    need(os.geteuid() == 0, "capturing on lo needs root")
    port = free_port()

    def handle_find(event):
        for number in range(3):
            match = Dataset()
            match.PatientID = f"P{number}"
            yield 0xFF00, match
        yield 0x0000, None

    scp = AE(ae_title="RIS_MWL")
    scp.add_supported_context(ModalityWorklistInformationFind)
    server = scp.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, handle_find)])
    try:
        scu = AE(ae_title="BENCH")
        scu.add_requested_context(ModalityWorklistInformationFind)
        with capturing(program, port, settle=0.3) as capture:
            assert capture.started, capture.error
            assoc = scu.associate("127.0.0.1", port, ae_title="RIS_MWL")
            query = Dataset()
            query.PatientID = "*"
            for _ in range(4):
                assert [status.Status for status, _ in assoc.send_c_find(query, ModalityWorklistInformationFind)] == [
                    0xFF00,
                    0xFF00,
                    0xFF00,
                    0x0000,
                ]
            assoc.release()
    finally:
        server.shutdown()
    assert capture.segments is not None, capture.error
    times, why = server_side(capture.segments, port, made=4, warmup=1)
    assert (len(times), why) == (3, "")
    assert all(0 < ms < 5_000 for ms in times)
