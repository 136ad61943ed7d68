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
from .audit import ForbiddenStrings, audit_binary

PROGRAMS = Path(__file__).resolve().parents[2] / "toolchain" / "acceptance"
# (compiler in the root, program, link flags, what it must print)
COMPILER_CHECKS = (
    ("cc", "simple.c", ["-lm"], "in-root cc: sqrt(2)=1.414214 musl-42 len=7\n"),
    ("c++", "simple.cpp", ["-pthread"], "in-root c++: thread=42 caught=libc++\n"),
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

    def run(self, argv: list[str]) -> str:
        sandbox = Sandbox(self.root, (Bind(self.scratch, SCRATCH, writable=True),))
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
