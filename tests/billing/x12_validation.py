"""Validate an X12 file with pyx12 and return its error messages, for the tests of the 837P writer and export."""

import io
import logging
from pathlib import Path

import pyx12.params
import pyx12.x12n_document


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def x12_errors(path: str | Path) -> list[str]:
    """pyx12's error messages for the file at `path`, e.g. "Line:11 SEG:3 - Mandatory segment ... (N4) missing";
    empty when the file is valid.

    pyx12 returns False for an invalid file and logs each error through the `pyx12` logger, which is what this
    collects. It reads files as ASCII and raises on what it cannot walk (a non-ASCII byte, an unknown version):
    that becomes a message too. An invalid file never gives an empty list: without a logged message, the 999
    acknowledgment pyx12 wrote stands in. pyx12's default extended character set is used (its basic one rejects
    the ISA11 repetition separator "^"), so the tests check the basic character set themselves.
    """
    logger = logging.getLogger("pyx12")
    handler, level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR)
    ack = io.StringIO()
    try:
        valid = pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(), src_file=str(path), fd_997=ack, fd_html=None, fd_xmldoc=None, map_path=None
        )
    except Exception as error:  # pyx12 raises (EngineError, X12Error, ...) on a file it cannot walk at all
        valid = False
        handler.messages.append(f"pyx12 stopped: {type(error).__name__}: {str(error)[:300]}")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    if valid:
        return handler.messages
    return handler.messages or [f"pyx12 found the file invalid without a message; its 999 reads: {ack.getvalue()}"]
