"""Server-side C-FIND times from a packet capture on the loopback interface (used by bench/worklist.py).

A client's own work (decoding responses, polling) is part of any time it measures; the segments on the wire are
the same whoever the client is. tcpdump captures the bench's port on `lo`; this module reads the capture itself
(no packet library): the pcap format is a 24-byte global header and a 16-byte header per record; Linux's loopback
is link type 1 (Ethernet, 14 bytes), then the IPv4 and TCP headers, each with its own length.

A C-FIND is, on one association (PS3.8 9.3: PDU type and length in a 6-byte header; PS3.7 6.3.1: the command set
in Implicit VR Little Endian), from the first client->server segment of the burst that starts with a P-DATA-TF
(type 0x04) whose first PDV is a command set with Command Field C-FIND-RQ (0x0020), to the last server->client
segment with payload before the client's next burst (its next request, or A-RELEASE-RQ, type 0x05). The client
sends nothing while a C-FIND is answered, so its bursts begin at PDU boundaries. A request not followed by another
request or a release (the capture cut short, an abort) is not counted. No Django here: tests run it.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Headers and the first bytes of each segment: a request's command set (C-FIND-RQ: group length, the SOP class
# UID, then the Command Field at byte 54 of the payload) with room to spare; 66 bytes of it are Ethernet, IPv4 and
# TCP (with timestamps) headers.
SNAPLEN = 256
BUFFER_KIB = 16_384
A_ASSOCIATE_RQ, P_DATA_TF, A_RELEASE_RQ, A_ABORT = 0x01, 0x04, 0x05, 0x07
C_FIND_RQ = 0x0020
COMMAND_FIELD = (0x0000, 0x0100)
PCAP_MAGIC = {  # the first four bytes: byte order and the unit of the fraction, in nanoseconds
    b"\xd4\xc3\xb2\xa1": ("<", 1000),
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
LINKTYPE_ETHERNET = 1
ETHERTYPE_IPV4 = 0x0800
TCP = 6
TCP_RST = 0x04
SEQ_MOD = 1 << 32


class CaptureError(Exception):
    """The capture could not be made or read: the reason is the message."""


@dataclass(frozen=True)
class Segment:
    """A TCP segment as captured: its time, ports, sequence number, payload length and the payload bytes kept."""

    ns: int  # capture time, nanoseconds since the epoch
    source_port: int
    destination_port: int
    seq: int
    length: int  # payload length, from the IPv4 and TCP headers (the capture may keep fewer bytes: `head`)
    head: bytes
    window: int = 1  # the receive window advertised, unscaled (0: the sender's receive buffer is full)
    flags: int = 0  # TCP flags (RST: 0x04)


def read_pcap(data: bytes) -> list[Segment]:
    """The IPv4 TCP segments of a pcap file (Ethernet link type), in capture order; other frames are skipped.
    A last record cut short (tcpdump stopped while writing it) is left out."""
    if len(data) < 24 or data[:4] not in PCAP_MAGIC:
        raise CaptureError("not a pcap file (no pcap magic number in a 24-byte header)")
    order, unit_ns = PCAP_MAGIC[data[:4]]
    link_type = struct.unpack(order + "I", data[20:24])[0] & 0x0FFF_FFFF  # the upper bits may carry FCS details
    if link_type != LINKTYPE_ETHERNET:
        raise CaptureError(f"link type {link_type}, not Ethernet (1) as tcpdump -i lo writes")
    segments = []
    offset = 24
    while offset + 16 <= len(data):
        seconds, fraction, kept, _length = struct.unpack(order + "IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + kept]
        offset += 16 + kept
        if len(frame) < kept:
            break
        if segment := _tcp_segment(seconds * 1_000_000_000 + fraction * unit_ns, frame):
            segments.append(segment)
    return segments


def _tcp_segment(ns: int, frame: bytes) -> Segment | None:
    if len(frame) < 14 or struct.unpack(">H", frame[12:14])[0] != ETHERTYPE_IPV4:
        return None
    ip = frame[14:]
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != TCP:
        return None
    ip_header = (ip[0] & 0x0F) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    tcp = ip[ip_header:]
    if len(tcp) < 20:
        raise CaptureError(f"a TCP header beyond the captured bytes (snap length below {14 + ip_header + 20})")
    source_port, destination_port, seq = struct.unpack(">HHI", tcp[:8])
    tcp_header = (tcp[12] >> 4) * 4
    length = total - ip_header - tcp_header
    flags, window = struct.unpack(">BH", tcp[13:16])
    head = bytes(tcp[tcp_header : tcp_header + length])
    return Segment(ns, source_port, destination_port, seq, length, head, window, flags)


def _burst_kind(head: bytes) -> str:
    """What a client burst starts with: "find" (a C-FIND request), "setup", "release", "abort" or "other"."""
    if not head:
        return "other"
    if head[0] == A_ASSOCIATE_RQ:
        return "setup"
    if head[0] == A_RELEASE_RQ:
        return "release"
    if head[0] == A_ABORT:
        return "abort"
    if head[0] != P_DATA_TF:
        return "other"
    # PDU header (6), then the first PDV: item length (4), presentation context ID (1), message control header
    # (1: bit 0 set for a command set, PS3.8 E.2), then the command elements: tag (2 + 2), length (4), value.
    if len(head) < 12:
        raise CaptureError("a P-DATA-TF's first PDV beyond the captured bytes (snap length too short)")
    if not head[11] & 0x01:
        return "other"
    position = 12
    while position + 8 <= len(head):
        group, element, length = struct.unpack("<HHI", head[position : position + 8])
        if (group, element) == COMMAND_FIELD:
            if position + 10 > len(head):
                break
            return "find" if struct.unpack("<H", head[position + 8 : position + 10])[0] == C_FIND_RQ else "other"
        if group != 0x0000 or element > COMMAND_FIELD[1]:
            return "other"  # past where the Command Field would be: a command set without one
        position += 8 + length
    raise CaptureError("a request's Command Field beyond the captured bytes (snap length too short)")


def _connections(segments: list[Segment], server_port: int) -> dict[int, list[Segment]]:
    """The segments of each connection to the server, keyed by the client's port, in order of first segment."""
    connections: dict[int, list[Segment]] = {}
    for segment in segments:
        if segment.destination_port == server_port:
            connections.setdefault(segment.source_port, []).append(segment)
        elif segment.source_port == server_port:
            connections.setdefault(segment.destination_port, []).append(segment)
    return connections


def _new_data(ends: dict[bool, int], to_server: bool, segment: Segment) -> bool:
    """Whether a segment with payload carries bytes not seen before in its direction (not a retransmission)."""
    end = (segment.seq + segment.length) % SEQ_MOD
    last = ends.get(to_server)
    if last is not None and not 0 < (end - last) % SEQ_MOD < SEQ_MOD // 2:
        return False
    ends[to_server] = end
    return True


@dataclass
class _Burst:
    """The client's segments with payload between two of the server's: one request, or a release, or a setup."""

    ns: int  # its first segment's time
    head: bytearray  # its first bytes, as far as every segment up to there was captured whole
    whole: bool  # whether every segment so far was captured whole (the next one's bytes then follow on)

    def add(self, segment: Segment) -> None:
        """A further segment of the burst: its bytes follow on if every segment before was captured whole."""
        if self.whole:
            self.head += segment.head
            self.whole = len(segment.head) == segment.length


def _turns(connection: list[Segment], server_port: int) -> Iterator[tuple[_Burst, list[int]]]:
    """Each burst of the client with the times of the server's segments with payload that follow it."""
    ends: dict[bool, int] = {}
    burst: _Burst | None = None
    answers: list[int] = []
    for segment in connection:
        to_server = segment.destination_port == server_port
        if not segment.length or not _new_data(ends, to_server, segment):
            continue
        if not to_server:
            answers.append(segment.ns)
        elif burst is None or answers:  # the client's first bytes, or its first since the server's last ones
            if burst is not None:
                yield burst, answers
            burst, answers = _Burst(segment.ns, bytearray(segment.head), len(segment.head) == segment.length), []
        else:
            burst.add(segment)
    if burst is not None:
        yield burst, answers


def _requests(connection: list[Segment], server_port: int) -> list[tuple[int, int]]:
    """(first segment, the server's last one) of every complete C-FIND on one connection. A burst is told by its
    first bytes, which may span segments: DCMTK sends a P-DATA's PDU and PDV headers (12 bytes) on their own."""
    spans = []
    request: tuple[int, int] | None = None
    for burst, answers in _turns(connection, server_port):
        kind = _burst_kind(bytes(burst.head))
        if request is not None and kind in ("find", "release"):
            spans.append(request)
        request = (burst.ns, answers[-1]) if kind == "find" and answers else None
    return spans


def query_times(segments: list[Segment], server_port: int) -> list[float]:
    """Milliseconds of every complete C-FIND in the capture, per connection in order (see the module docstring)."""
    return [
        (last - first) / 1_000_000
        for connection in _connections(segments, server_port).values()
        for first, last in _requests(connection, server_port)
    ]


def window_full_times(segments: list[Segment], server_port: int) -> list[float]:
    """Per C-FIND (as query_times), the milliseconds of it during which the client's receive window was full (it
    advertised 0 and had not opened it again): the server was held by TCP flow control, waiting for the client."""
    result = []
    for connection in _connections(segments, server_port).values():
        closed: list[tuple[int, int | None]] = []  # (window advertised as 0, opened again or None) of the client
        for segment in connection:
            if segment.destination_port != server_port or segment.flags & TCP_RST:
                continue
            if segment.window == 0 and (not closed or closed[-1][1] is not None):
                closed.append((segment.ns, None))
            elif segment.window and closed and closed[-1][1] is None:
                closed[-1] = (closed[-1][0], segment.ns)
        for first, last in _requests(connection, server_port):
            overlap = sum(max(0, min(last, opened or last) - max(first, full)) for full, opened in closed)
            result.append(overlap / 1_000_000)
    return result


def server_side(segments: list[Segment], server_port: int, made: int, warmup: int) -> tuple[list[float], str]:
    """(the timed C-FINDs' server-side milliseconds, "") when the capture holds as many C-FINDs as the client
    made (`made`, warm-up ones included, dropped here); else ([], why not): a figure is never guessed."""
    try:
        times = query_times(segments, server_port)
    except CaptureError as error:
        return [], str(error)
    if len(times) != made:
        return [], f"capture holds {len(times)} C-FINDs, the client made {made}"
    return times[warmup:], ""


# --- tcpdump --------------------------------------------------------------------------------------------------


def tcpdump() -> str | None:
    """The tcpdump program, or None (Debian package tcpdump)."""
    return shutil.which("tcpdump")


@dataclass
class Capture:
    """The segments of a finished capture, or why there are none."""

    segments: list[Segment] | None = None
    error: str = ""
    started: bool = False  # whether tcpdump listened at all (if not, no capture will work: say so once)


_DROPPED = re.compile(r"(\d+) packets? dropped by kernel")


@contextlib.contextmanager
def capturing(
    program: str, port: int, preexec_fn: Callable[[], None] | None = None, *, settle: float = 0.2
) -> Iterator[Capture]:
    """tcpdump on `lo` for TCP `port` around the block; afterwards the Capture holds its segments or the error.
    Waits until tcpdump listens before the block, and `settle` seconds after it before stopping tcpdump."""
    capture = Capture()
    with tempfile.TemporaryDirectory(prefix="bench_capture_") as workdir:
        pcap, log = Path(workdir) / "capture.pcap", Path(workdir) / "tcpdump.log"
        argv = [program, "-i", "lo", "-w", "-", "-U", "--immediate-mode", "-B", str(BUFFER_KIB), "-s", str(SNAPLEN),
                "-n", f"tcp port {port}"]  # fmt: skip
        # The pcap goes to stdout, into a file this process opened: tcpdump, started as root, drops to its own user
        # before it would open a -w file.
        with pcap.open("wb") as out, log.open("wb") as err:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, preexec_fn=preexec_fn)  # noqa: S603
        try:
            _wait_listening(process, log)
        except CaptureError as error:
            _stop(process)
            capture.error = str(error)
            yield capture
            return
        capture.started = True
        try:
            yield capture
        finally:
            time.sleep(settle)
            _stop(process)
        messages = log.read_text(errors="replace")
        dropped = sum(int(n) for n in _DROPPED.findall(messages))
        if process.returncode not in (0, -signal.SIGINT):
            capture.error = f"tcpdump exited with {process.returncode}: {_last_line(messages)}"
        elif dropped:
            capture.error = f"tcpdump: {dropped} packets dropped by kernel"
        else:
            try:
                capture.segments = read_pcap(pcap.read_bytes())
            except CaptureError as error:
                capture.error = str(error)


def _wait_listening(process: subprocess.Popen, log: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "listening on" in text:
            return
        if process.poll() is not None:
            raise CaptureError(f"tcpdump exited with {process.returncode}: {_last_line(text)}")
        time.sleep(0.01)
    raise CaptureError(f"tcpdump did not start listening within {timeout:g} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"
