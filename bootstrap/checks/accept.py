"""Stage1 acceptance: compile, link and run C and C++ programs with the cross toolchain.

For each target: a C program (stdio, libm, long double, pthreads, TLS) and a C++ program
(iostream, std::thread, an exception thrown in a library and caught in the executable),
each linked dynamically and statically, run natively (through the sysroot's musl loader) or
under qemu-user for a foreign arch. Every binary is audited: ELF machine, PT_INTERP (none for
static ones), no RPATH but $ORIGIN, and no host or build path in its bytes. The results go to
a JSON file that the run report embeds.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..builder.keys import BuildKey
from ..core.errors import BuildError
from ..core.fsutil import fresh_dir, write_atomic
from ..exec import runner
from ..model.layout import Layout
from ..model.targets import Target
from .audit import ForbiddenStrings, audit_binary

SOURCES = Path(__file__).resolve().parents[2] / "toolchain" / "acceptance"
EXPECTED_C = "sqrt(2)=1.414214 third=0.333333333333 tls=1,2,3,4 main_tls=1\n"
EXPECTED_CXX = "caught: thrown in library squares=1,4,9\n"


@dataclass(frozen=True)
class AcceptanceSpec:
    target: Target
    layout: Layout
    forbidden: ForbiddenStrings  # strings no binary may contain (host and build paths)
    source_date_epoch: int
    key: BuildKey  # the checked tree's digest and the check's own inputs

    @property
    def results(self) -> Path:
        return self.layout.base / "reports" / "stage1-acceptance.json"


def programs(tool: str) -> list[tuple[str, list[list[str]], str, bool]]:
    """(binary, commands that build it, expected output, static?)"""
    cc, cxx = f"{tool}clang", f"{tool}clang++"
    lib = ["-L.", "-lthrower", "-pthread"]
    return [
        (
            "c-dynamic",
            [[cc, "-O2", "hello.c", "-o", "c-dynamic", "-lm", "-pthread"]],
            EXPECTED_C,
            False,
        ),
        (
            "c-static",
            [[cc, "-O2", "-static", "hello.c", "-o", "c-static", "-lm", "-pthread"]],
            EXPECTED_C,
            True,
        ),
        (
            "cxx-dynamic",
            [
                [cxx, "-O2", "-shared", "-fPIC", "thrower.cpp", "-o", "libthrower.so"],
                [cxx, "-O2", "hello.cpp", "-o", "cxx-dynamic", *lib, "-Wl,-rpath,$ORIGIN"],
            ],
            EXPECTED_CXX,
            False,
        ),
        (
            "cxx-static",
            [
                [cxx, "-O2", "-c", "thrower.cpp", "-o", "thrower.o"],
                [f"{tool}ar", "rcs", "libthrower.a", "thrower.o"],
                [cxx, "-O2", "-static", "hello.cpp", "-o", "cxx-static", *lib],
            ],
            EXPECTED_CXX,
            True,
        ),
    ]


def runner_prefix(spec: AcceptanceSpec, static: bool) -> list[str]:
    """How to run a target binary here: natively, or under qemu-user with the sysroot."""
    sysroot = spec.layout.sysroot
    if spec.target.is_native():
        return (
            [] if static else [f"{sysroot}/usr/lib/libc.so", "--library-path", f"{sysroot}/usr/lib"]
        )
    qemu = shutil.which(f"{spec.target.qemu}-static") or shutil.which(spec.target.qemu)
    if not qemu:
        raise BuildError(
            f"no {spec.target.qemu} to run {spec.target.arch} code",
            fix="apt-get install qemu-user-static",
        )
    return [qemu, "-L", str(sysroot)]


def check_program(spec: AcceptanceSpec, work: Path, entry: tuple, env: dict, log: Path) -> dict:
    name, commands, expected, static = entry
    result: dict[str, Any] = {"name": name, "static": static, "problems": []}
    try:
        for argv in commands:
            runner.run(argv, cwd=work, env=env, log=log)
        result["problems"] += audit_binary(work / name, spec.target, spec.forbidden, static)
        output = runner.capture(
            [*runner_prefix(spec, static), f"./{name}"], cwd=work, env=env, log=log
        )
        result["output"] = output
        if output != expected:
            result["problems"].append(f"printed {output!r}, expected {expected!r}")
    except BuildError as err:
        result["problems"].append(err.what.splitlines()[0])
    result["passed"] = not result["problems"]
    return result


def run_acceptance(spec: AcceptanceSpec) -> None:
    work = fresh_dir(spec.layout.workdir("stage1", "acceptance"))
    for src in SOURCES.iterdir():
        shutil.copy(src, work / src.name)  # relative names: no path into the binaries
    log = spec.layout.log("stage1", "acceptance")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"stage1 acceptance for {spec.target.triplet}\n")
    env = runner.clean_env(
        path=[spec.layout.toolchain / "bin"], source_date_epoch=spec.source_date_epoch, home=work
    )
    tool = f"{spec.target.triplet}-"
    checks = [check_program(spec, work, entry, env, log) for entry in programs(tool)]
    passed = all(c["passed"] for c in checks)
    write_atomic(
        spec.results,
        json.dumps({"target": spec.target.triplet, "passed": passed, "checks": checks}, indent=2)
        + "\n",
    )
    if not passed:
        failures = [f"{c['name']}: {'; '.join(c['problems'])}" for c in checks if not c["passed"]]
        raise BuildError(
            f"stage1 acceptance failed for {spec.target.triplet}:\n  " + "\n  ".join(failures),
            where=str(log),
            fix=f"read {log}",
        )
