"""Check results for nightly jobs: one JSON file (embedded into the run report) and one
JUnit XML file (for CI dashboards), each written atomically."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.fsutil import write_atomic

# Characters XML 1.0 cannot carry (control characters, lone surrogates from undecodable
# output): they are written as \xNN escapes instead.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
REPORT_KEYS = ("suite", "passed", "counts", "seconds", "results")  # what results_json writes


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str = ""
    seconds: float = 0.0


def write_results(
    results: Sequence[CheckResult],
    suite: str,
    json_path: Path,
    junit_path: Path,
    sections: Mapping[str, Any] | None = None,
) -> None:
    """`sections`: more top-level entries of the JSON (e.g. the drift report)."""
    write_atomic(Path(json_path), results_json(results, suite, sections))
    write_atomic(Path(junit_path), results_junit(results, suite))


def add_result(
    result: CheckResult,
    json_path: Path,
    junit_path: Path,
    section: tuple[str, Any] | None = None,
) -> None:
    """Add `result` (replacing one of its name) and `section` to results already written."""
    report = json.loads(Path(json_path).read_text())
    results = [CheckResult(**r) for r in report["results"] if r["name"] != result.name]
    keep = {k: v for k, v in report.items() if k not in REPORT_KEYS}
    if section:
        keep[section[0]] = section[1]
    write_results([*results, result], report["suite"], json_path, junit_path, keep)


def _counts(results: Sequence[CheckResult]) -> dict[str, int]:
    failed = sum(not r.passed for r in results)
    return {"total": len(results), "passed": len(results) - failed, "failed": failed}


def results_json(
    results: Sequence[CheckResult], suite: str, sections: Mapping[str, Any] | None = None
) -> str:
    report: dict[str, Any] = {
        **(sections or {}),
        "suite": suite,
        "passed": all(r.passed for r in results),
        "counts": _counts(results),
        "seconds": round(sum(r.seconds for r in results), 3),
        "results": [asdict(r) for r in results],
    }
    return json.dumps(report, indent=2) + "\n"


def results_junit(results: Sequence[CheckResult], suite: str) -> str:
    total = sum(r.seconds for r in results)
    tree = ET.Element("testsuite", name=_xml_text(suite), time=f"{total:.3f}")
    tree.set("tests", str(len(results)))
    tree.set("failures", str(_counts(results)["failed"]))
    tree.set("errors", "0")
    tree.set("skipped", "0")
    for r in results:
        case = ET.SubElement(tree, "testcase", classname=_xml_text(suite), name=_xml_text(r.name))
        case.set("time", f"{r.seconds:.3f}")
        detail = _xml_text(r.detail)
        if not r.passed:
            message = detail.splitlines()[0] if detail else "failed"
            ET.SubElement(case, "failure", message=message).text = detail
        elif detail:
            ET.SubElement(case, "system-out").text = detail
    ET.indent(tree)
    return ET.tostring(tree, encoding="unicode", xml_declaration=True) + "\n"


def _xml_text(text: str) -> str:
    return NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
