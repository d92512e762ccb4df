"""MLLP framing (HL7 v2.5.1 Appendix C, Minimal Lower Layer Protocol): <VT> message <FS><CR>. Pure: no sockets."""

START = b"\x0b"
END = b"\x1c\x0d"


class FrameError(ValueError):
    """The stream broke the framing: data outside a frame, or a frame over the size limit."""


def frame(message: bytes) -> bytes:
    """Wrap one encoded message for the wire."""
    return START + message + END


class FrameReader:
    """Feed it bytes as they arrive, in any pieces; it hands back whole messages (without the framing bytes).

    Bytes outside a frame other than white space, or a frame growing past `max_bytes`, raise FrameError: the
    connection should then be answered with a NAK where possible, and closed.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self._scanned = 0  # bytes of the current frame already searched for its end

    def feed(self, data: bytes) -> list[bytes]:
        messages = []
        self._buffer += data
        while True:
            if not self._in_frame:
                start = self._buffer.find(START)
                junk = self._buffer if start < 0 else self._buffer[:start]
                if junk.strip():  # line ends and spaces between frames are tolerated
                    self._buffer.clear()
                    raise FrameError("data outside an MLLP frame")
                if start < 0:
                    self._buffer.clear()
                    return messages
                del self._buffer[: start + 1]
                self._in_frame = True
            end = self._buffer.find(END, max(0, self._scanned - 1))
            # A frame of max_bytes may wait with its <FS> read and its <CR> still to come.
            if end < 0 and len(self._buffer) < self.max_bytes + len(END):
                self._scanned = len(self._buffer)
                return messages
            self._scanned = 0
            self._in_frame = False
            if end < 0 or end > self.max_bytes:
                self._buffer.clear()
                raise FrameError(f"frame larger than {self.max_bytes} bytes")
            messages.append(bytes(self._buffer[:end]))
            del self._buffer[: end + 2]

    @property
    def in_frame(self) -> bool:
        """A frame has started (its <VT> read) and not ended yet."""
        return self._in_frame

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame."""
        return len(self._buffer)
