"""Run pip-audit and report only the result it actually obtained.

pip-audit lists a package it cannot look up (advisory service unreachable, package unknown to the index) as
skipped and still prints "No known vulnerabilities found" and exits 0: a check that cannot fail. This wrapper
reads its JSON report, counts audited against skipped packages and says so plainly.

Usage: python .ci/audit.py PIP_AUDIT [ARGS...]   (RIS_AUDIT_STRICT=1: a package not checked fails the run)

Exit status: 1 if a known vulnerability is found; 1 if any package could not be checked and RIS_AUDIT_STRICT=1;
0 otherwise (with a warning when the result is incomplete).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    lines: list[str]


def judge(report_text: str, *, strict: bool) -> Verdict:
    """Turn pip-audit's JSON output (`-f json`) into an honest verdict and the lines to print."""
    try:
        report = json.loads(report_text)
        dependencies = report["dependencies"]
    except (ValueError, TypeError, KeyError):
        return Verdict(
            1 if strict else 0,
            ["pip-audit produced no report: the audit could not run. NO vulnerability result."],
        )
    skipped = [dep for dep in dependencies if "skip_reason" in dep]
    audited = [dep for dep in dependencies if "skip_reason" not in dep]
    vulnerable = [dep for dep in audited if dep.get("vulns")]
    total = len(dependencies)
    lines = []
    for dep in vulnerable:
        ids = ", ".join(vuln.get("id", "?") for vuln in dep["vulns"])
        lines.append(f"VULNERABLE: {dep['name']} {dep.get('version', '')}: {ids}")
    if skipped:
        lines.append(
            f"pip-audit could not check {len(skipped)} of {total} packages (advisory service unreachable or package"
            f" unknown to it, e.g. {skipped[0]['name']}: {skipped[0]['skip_reason']}): NO vulnerability result"
            + (" for them." if audited else ".")
        )
    if vulnerable:
        lines.append(f"{len(vulnerable)} of {len(audited)} audited packages have known vulnerabilities.")
        return Verdict(1, lines)
    if skipped:
        if strict:
            lines.append("RIS_AUDIT_STRICT=1: failing because the audit is incomplete.")
            return Verdict(1, lines)
        lines.append("WARNING: continuing without a complete audit (set RIS_AUDIT_STRICT=1 to fail instead).")
        return Verdict(0, lines)
    if not total:
        return Verdict(1 if strict else 0, ["pip-audit audited no package: NO vulnerability result."])
    lines.append(f"pip-audit checked all {total} packages: no known vulnerabilities.")
    return Verdict(0, lines)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    completed = subprocess.run([*argv, "--format", "json"], capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode not in (0, 1) or not completed.stdout.strip():  # 1 means "vulnerabilities found"
        sys.stderr.write(completed.stderr)
    verdict = judge(completed.stdout, strict=os.environ.get("RIS_AUDIT_STRICT", "0") == "1")
    print("\n".join(verdict.lines))
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
