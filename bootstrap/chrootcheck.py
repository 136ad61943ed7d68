"""Checks that run inside a root, in the namespaced sandbox (through binfmt_misc + qemu-user
for a foreign arch): `/usr/bin/sh` runs core tools, and the root's own `cc` compiles and
runs a C program. Stage2's check task uses them, and so does the rootfs verification.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import runner
from .audit import audit_binary
from .binfmt import ensure_binfmt
from .errors import BuildError
from .fsutil import remove_tree, write_atomic
from .sandbox import Bind, Sandbox
from .targets import Target

PROGRAM = Path(__file__).resolve().parent.parent / "toolchain" / "acceptance" / "simple.c"
EXPECTED = "in-root cc: sqrt(2)=1.414214 musl-42 len=7\n"
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

    def compiler(self, forbidden: tuple[str, ...]) -> list[str]:
        """Problems compiling, auditing and running a C program with the root's cc."""
        shutil.copy(PROGRAM, self.scratch / "simple.c")
        try:
            self.run(["/usr/bin/cc", "-o", f"{SCRATCH}/simple", f"{SCRATCH}/simple.c", "-lm"])
            problems = audit_binary(self.scratch / "simple", self.target, forbidden, static=False)
            printed = self.run([f"{SCRATCH}/simple"])
        except BuildError as err:
            return [f"cc check failed: {err.what.splitlines()[0]}"]
        if printed != EXPECTED:
            problems.append(f"the C program printed {printed!r}, not {EXPECTED!r}")
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
    forbidden: tuple[str, ...]
    results: Path
    log: Path
    signature: str


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
