"""`.ci/audit.py`: the supply-chain step reports only the pip-audit result it actually obtained."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / ".ci" / "audit.py"
_SPEC = importlib.util.spec_from_file_location("ci_audit", _PATH)
audit = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("ci_audit", audit)  # dataclasses look the module up while the file runs
_SPEC.loader.exec_module(audit)


def _report(*dependencies):
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


def _skipped(name):
    return {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} (1.0)"}


def _clean(name):
    return {"name": name, "version": "1.0", "vulns": []}


ALL_SKIPPED = _report(_skipped("django"), _skipped("pydicom"))
SOME_VULNERABLE = _report(_clean("pydicom"), {"name": "django", "version": "5.2", "vulns": [{"id": "PYSEC-1"}]})
ALL_CLEAN = _report(_clean("django"), _clean("pydicom"))


def test_all_skipped_says_no_result_and_never_reports_clean():
    verdict = audit.judge(ALL_SKIPPED, strict=False)
    text = "\n".join(verdict.lines)
    assert "could not check 2 of 2 packages" in text
    assert "NO vulnerability result" in text
    assert "no known vulnerabilities" not in text.lower()
    assert verdict.exit_code == 0


def test_all_skipped_fails_when_strict():
    assert audit.judge(ALL_SKIPPED, strict=True).exit_code == 1


def test_some_skipped_is_reported_as_incomplete():
    verdict = audit.judge(_report(_clean("django"), _skipped("pydicom")), strict=True)
    assert "could not check 1 of 2 packages" in "\n".join(verdict.lines)
    assert verdict.exit_code == 1


@pytest.mark.parametrize("strict", [False, True])
def test_a_vulnerable_package_fails(strict):
    verdict = audit.judge(SOME_VULNERABLE, strict=strict)
    assert verdict.exit_code == 1
    assert "VULNERABLE: django 5.2: PYSEC-1" in verdict.lines


@pytest.mark.parametrize("strict", [False, True])
def test_all_audited_and_clean_passes(strict):
    verdict = audit.judge(ALL_CLEAN, strict=strict)
    assert verdict.exit_code == 0
    assert verdict.lines == ["pip-audit checked all 2 packages: no known vulnerabilities."]


def test_no_report_at_all_is_not_a_clean_result():
    verdict = audit.judge("Traceback (most recent call last): ...", strict=True)
    assert verdict.exit_code == 1
    assert "could not run" in verdict.lines[0]


def test_main_runs_pip_audit_with_json_output_and_fails_strict_on_skips(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "pip-audit"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "assert sys.argv[-2:] == ['--format', 'json'], sys.argv\n"
        f"print({ALL_SKIPPED!r})\n"
        "print('No known vulnerabilities found', file=sys.stderr)\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("RIS_AUDIT_STRICT", "1")
    assert audit.main([str(fake), "--progress-spinner", "off"]) == 1
    assert "NO vulnerability result" in capsys.readouterr().out
