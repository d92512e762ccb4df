"""The systemd units under deploy/: valid for systemd, one per Procfile process, each starting a real command."""

import configparser
import shlex
import subprocess
from pathlib import Path

import pytest
from django.core.management import get_commands

from tests.conftest import need_tool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_one_unit_per_procfile_process_running_the_same_command():
    assert {path.stem.removeprefix("ris-") for path in UNITS} == {"web", "worker", "beat", "worklist", "hl7"}
    processes = procfile()
    for path in UNITS:
        name = path.stem.removeprefix("ris-")
        command = shlex.split(unit(path)["Service"]["ExecStart"])
        expected = shlex.split(processes[name])
        assert Path(command[0]).name == Path(expected[0]).name, path.name
        if name == "beat":  # the schedule file lives in /var/lib/ris under systemd
            command, expected = command[:-2], expected[:-2]
        assert command[1:] == expected[1:], path.name
        if command[1] == "manage.py":
            assert command[2] in get_commands(), path.name
        assert unit(path)["Install"]["WantedBy"] == "ris.target"
        assert unit(path)["Service"]["EnvironmentFile"] == "/etc/ris/ris.env"
    wanted = unit(DEPLOY / "ris.target")["Unit"]["Wants"].split()
    assert sorted(wanted) == sorted(path.name for path in UNITS)


@pytest.mark.slow
def test_systemd_accepts_the_units(tmp_path):
    """`systemd-analyze verify` on the units, installed as if the checkout were /opt/ris."""
    analyze = need_tool("systemd-analyze")
    for path in [*UNITS, DEPLOY / "ris.target"]:
        (tmp_path / path.name).write_text(path.read_text().replace("/opt/ris", str(ROOT)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(path) for path in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    complaints = [line for line in result.stderr.splitlines() if str(tmp_path) in line or ".service" in line]
    assert complaints == []
