"""write_results(): JSON and JUnit XML files for nightly check jobs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from bootstrap.image.results import CheckResult, add_result, write_results

RESULTS = [
    CheckResult("hello-world runs", True, "prints hello", 0.25),
    CheckResult("no host paths", False, "usr/lib/libfoo.so: /usr/lib/x86_64\nand 3 more", 1.5),
    CheckResult("ansi output", False, "\x1b[31mred\x1b[0m failure"),
    CheckResult("quick", True),
]


def write(tmp_path: Path, results: list[CheckResult]) -> tuple[dict, ET.Element]:
    json_path, junit_path = tmp_path / "r" / "checks.json", tmp_path / "r" / "checks.xml"
    write_results(results, "stage3", json_path, junit_path)
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["checks.json", "checks.xml"]
    return json.loads(json_path.read_text()), ET.parse(junit_path).getroot()


def test_json(tmp_path: Path) -> None:
    report, _ = write(tmp_path, RESULTS)
    assert report["suite"] == "stage3"
    assert report["passed"] is False
    assert report["counts"] == {"total": 4, "passed": 2, "failed": 2}
    assert report["seconds"] == 1.75
    assert report["results"][1] == {
        "name": "no host paths",
        "passed": False,
        "detail": "usr/lib/libfoo.so: /usr/lib/x86_64\nand 3 more",
        "seconds": 1.5,
    }


def test_junit(tmp_path: Path) -> None:
    _, suite = write(tmp_path, RESULTS)
    assert suite.tag == "testsuite"
    assert dict(suite.attrib) == {
        "name": "stage3",
        "tests": "4",
        "failures": "2",
        "errors": "0",
        "skipped": "0",
        "time": "1.750",
    }
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [r.name for r in RESULTS]
    assert [c.get("time") for c in cases] == ["0.250", "1.500", "0.000", "0.000"]
    assert [c.find("failure") is not None for c in cases] == [False, True, True, False]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "usr/lib/libfoo.so: /usr/lib/x86_64"
    assert failure.text == "usr/lib/libfoo.so: /usr/lib/x86_64\nand 3 more"
    ansi = cases[2].find("failure")
    assert ansi is not None and ansi.text == "\\x1b[31mred\\x1b[0m failure"
    out = cases[0].find("system-out")
    assert out is not None and out.text == "prints hello"


def test_all_passed(tmp_path: Path) -> None:
    report, suite = write(tmp_path, [CheckResult("a", True), CheckResult("b", True)])
    assert report["passed"] is True
    assert report["counts"] == {"total": 2, "passed": 2, "failed": 0}
    assert suite.get("failures") == "0" and suite.find("testcase/failure") is None


def test_a_result_added_later_replaces_its_namesake(tmp_path: Path) -> None:
    json_path, junit_path = tmp_path / "checks.json", tmp_path / "checks.xml"
    write_results([CheckResult("a", True)], "rootfs", json_path, junit_path)
    alone = json_path.read_text()
    add_result(CheckResult("drift", False, "same key"), json_path, junit_path, ("drift", {"x": 1}))
    add_result(CheckResult("drift", True, "fine"), json_path, junit_path, ("drift", {"x": 2}))
    report = json.loads(json_path.read_text())
    assert [(r["name"], r["passed"]) for r in report["results"]] == [("a", True), ("drift", True)]
    assert report["drift"] == {"x": 2} and report["suite"] == "rootfs"
    suite = ET.parse(junit_path).getroot()
    assert [c.get("name") for c in suite.findall("testcase")] == ["a", "drift"]
    write_results([CheckResult("a", True)], "rootfs", json_path, junit_path)
    assert json_path.read_text() == alone  # without sections: the same bytes as before
