"""Checks that run inside a root, in the namespaced sandbox (through binfmt_misc + qemu-user
for a foreign arch): `/usr/bin/sh` runs core tools, and the root's own `cc` compiles and
runs a C program (and, where the root has a `c++`, a C++ program with threads and
exceptions). Stage2's check task uses them, and so does the rootfs verification.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..builder.keys import BuildKey
from ..core.errors import BuildError
from ..core.fsutil import remove_tree, write_atomic
from ..exec import runner
from ..exec.binfmt import ensure_binfmt
from ..exec.sandbox import Bind, Sandbox
from ..model.targets import Target
from .accept import programs
from .audit import ForbiddenStrings, audit_binary

PROGRAMS = Path(__file__).resolve().parents[2] / "toolchain" / "acceptance"
# (compiler in the root, program, link flags, what it must print)
COMPILER_CHECKS = (
    ("cc", "simple.c", ["-lm"], "in-root cc: sqrt(2)=1.414214 musl-42 len=7\n"),
    ("c++", "simple.cpp", ["-pthread"], "in-root c++: thread=42 caught=libc++\n"),
)
# a real package the root builds and tests with its own cmake, ninja and clang
PACKAGE_BUILD = (
    "cmake -S {src} -B /tmp/pkg -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null && "
    "ninja -C /tmp/pkg >/dev/null && cd /tmp/pkg && (ctest --output-on-failure > ctest.log; "
    "grep 'tests passed' ctest.log)"
)
PYTHON_CHECK = (
    "import bz2, ctypes, hashlib, json, lzma, zlib; "
    "print(zlib.crc32(b'serpent'), len(lzma.compress(b'x')) > 0, ctypes.sizeof(ctypes.c_long))"
)
# getconf's and getent's own checks (src/musl-tools), run against the root's programs
MUSL_TOOLS_CHECKS = PROGRAMS.parents[1] / "src" / "musl-tools" / "tests" / "run.sh"
SCRATCH = "/tmp/check"  # bind-mounted inside the sandbox's tmpfs: never part of the root
CORE_TOOLS = (
    "printf 'b\\na\\nc\\n' | sort | head -n 2 | tr '\\n' ' '; echo; "
    "echo hello world | sed s/world/musl/ | grep musl | wc -w; "
    "echo $((6 * 7)); uname -m; "
    "echo a > /tmp/a; echo b > /tmp/b; diff /tmp/a /tmp/b > /dev/null; echo diff=$?"
)


@dataclass(frozen=True)
class RootProbe:
    """A root plus a host scratch dir seen as /check inside it; every command is logged."""

    root: Path
    target: Target
    scratch: Path
    log: Path
    binds: tuple[Bind, ...] = ()  # more of the host inside (tests borrow its /usr)

    def run(self, argv: list[str]) -> str:
        sandbox = Sandbox(self.root, (*self.binds, Bind(self.scratch, SCRATCH, writable=True)))
        env = runner.clean_env(source_date_epoch=0, home=Path("/tmp"))
        return runner.capture(
            sandbox.command(argv, cwd=SCRATCH), cwd=self.scratch, env=env, log=self.log
        )

    def core_tools(self) -> list[str]:
        """Problems running the shell and core tools (empty when they behave)."""
        expected = f"a b \n2\n42\n{self.target.arch}\ndiff=1\n"
        try:
            printed = self.run(["/usr/bin/sh", "-c", CORE_TOOLS])
        except BuildError as err:
            return [f"core tools failed: {err.what.splitlines()[0]}"]
        return [] if printed == expected else [f"core tools printed {printed!r}, not {expected!r}"]

    def musl_tools(self) -> list[str]:
        """Problems of the root's getconf and getent (their own checks, src/musl-tools)."""
        shutil.copy(MUSL_TOOLS_CHECKS, self.scratch / "musl-tools-checks.sh")
        script = f"sh {SCRATCH}/musl-tools-checks.sh /usr/bin; echo exit=$?"
        try:
            printed = self.run(["/usr/bin/sh", "-c", script])
        except BuildError as err:
            return [f"getconf/getent checks did not run: {err.what.splitlines()[0]}"]
        if printed.endswith("exit=0\n"):
            return []
        failed = [ln for ln in printed.splitlines() if ln.startswith("FAIL")]
        return failed or [f"getconf/getent checks failed: {printed.splitlines()[-1]}"]

    def compiler(self, forbidden: ForbiddenStrings) -> list[str]:
        """Problems compiling, auditing and running the test programs with the root's cc
        (and c++, when the root has one)."""
        problems: list[str] = []
        for compiler, program, flags, expected in COMPILER_CHECKS:
            if compiler != "cc" and not (self.root / "usr" / "bin" / compiler).exists():
                continue
            problems += self._compile_and_run(compiler, program, flags, expected, forbidden)
        return problems

    def acceptance(self, forbidden: ForbiddenStrings) -> list[str]:
        """stage1's acceptance matrix (C and C++, static and dynamic, threads, TLS,
        iostreams, an exception from a shared library) built by the root's own clang."""
        for source in PROGRAMS.iterdir():
            shutil.copy(source, self.scratch / source.name)
        problems: list[str] = []
        for name, commands, expected, static in programs("/usr/bin/"):
            try:
                for argv in commands:
                    self.run(argv)
                problems += [
                    f"{name}: {p}"
                    for p in audit_binary(self.scratch / name, self.target, forbidden, static)
                ]
                printed = self.run([f"./{name}"])
            except BuildError as err:
                problems.append(f"{name}: {err.what.splitlines()[0]}")
                continue
            if printed != expected:
                problems.append(f"{name} printed {printed!r}, not {expected!r}")
        return problems

    def builds_package(self, source: Path) -> list[str]:
        """A real package (its prepared source) configured with the root's cmake, built
        with its ninja and clang, and its test suite passing."""
        shutil.copytree(source, self.scratch / "pkg-src", symlinks=True)
        script = PACKAGE_BUILD.format(src=f"{SCRATCH}/pkg-src")
        try:
            printed = self.run(["/usr/bin/sh", "-c", script])
        except BuildError as err:
            return [f"building {source.name} failed: {err.what.splitlines()[0]}"]
        return [] if "100% tests passed" in printed else [f"its tests: {printed.strip()}"]

    def python(self) -> list[str]:
        """python3 runs, with the modules the base system built it with."""
        expected = "317874901 True 8\n"
        try:
            printed = self.run(["/usr/bin/python3", "-c", PYTHON_CHECK])
        except BuildError as err:
            return [f"python3 failed: {err.what.splitlines()[0]}"]
        return [] if printed == expected else [f"python3 printed {printed!r}, not {expected!r}"]

    def _compile_and_run(
        self,
        compiler: str,
        program: str,
        flags: list[str],
        expected: str,
        forbidden: ForbiddenStrings,
    ) -> list[str]:
        shutil.copy(PROGRAMS / program, self.scratch / program)
        exe = f"{SCRATCH}/{Path(program).stem}-{compiler}"
        try:
            self.run([f"/usr/bin/{compiler}", "-o", exe, f"{SCRATCH}/{program}", *flags])
            problems = audit_binary(
                self.scratch / Path(exe).name, self.target, forbidden, static=False
            )
            printed = self.run([exe])
        except BuildError as err:
            return [f"{compiler} check failed: {err.what.splitlines()[0]}"]
        if printed != expected:
            problems.append(f"the {program} program printed {printed!r}, not {expected!r}")
        return problems


def probe_root(root: Path, target: Target, scratch: Path, log: Path) -> RootProbe:
    """Check that the probe can run at all (root, emulation), then hand it out."""
    if os.geteuid() != 0:
        raise BuildError(
            "checks inside a root need root (namespaces, chroot)",
            fix="run as root (see `doit check`)",
        )
    ensure_binfmt(target)
    remove_tree(scratch)
    scratch.mkdir(parents=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"checks inside {root}\n")
    return RootProbe(root, target, scratch, log)


@dataclass(frozen=True)
class CompilerCheckSpec:
    target: Target
    root: Path
    forbidden: ForbiddenStrings
    results: Path
    log: Path
    key: BuildKey  # the checked tree's digest and the check's own inputs


def run_compiler_check(spec: CompilerCheckSpec) -> None:
    scratch = spec.results.with_name(f".{spec.results.stem}-scratch")
    probe = probe_root(spec.root, spec.target, scratch, spec.log)
    try:
        problems = probe.core_tools() + probe.compiler(spec.forbidden)
    finally:
        remove_tree(scratch)
    write_atomic(
        spec.results,
        json.dumps({"root": str(spec.root), "passed": not problems, "problems": problems}, indent=2)
        + "\n",
    )
    if problems:
        raise BuildError(
            f"in-root check failed in {spec.root}:\n  " + "\n  ".join(problems),
            fix=f"read {spec.log}",
        )
