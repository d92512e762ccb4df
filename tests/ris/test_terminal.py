"""Terminal progress bars: on a terminal they show the share done, the rate and the time left; in a log or a pipe
nothing at all."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import time
from ris.terminal import progress_bar
for _ in progress_bar(range(40), total=40, desc="loading", unit="rows"):
    time.sleep(0.02)
"""


def run_on(stderr_is_terminal: bool) -> str:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    if not stderr_is_terminal:
        result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=30)
        return result.stderr
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))  # a terminal 120 columns wide
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stderr=terminal, stdout=terminal)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=30)
    os.close(controller)
    return output.decode(errors="replace")


def test_a_terminal_sees_the_bar_with_rate_and_time_left():
    output = run_on(stderr_is_terminal=True)
    assert "loading: 100%" in output
    assert "40/40" in output
    assert "<00:00" in output  # tqdm's elapsed<remaining
    assert " rows/s" in output


def test_a_log_gets_no_bar():
    assert run_on(stderr_is_terminal=False) == ""
