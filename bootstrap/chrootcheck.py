"""Stage checks that run inside a stage's root (through binfmt_misc + qemu-user for a
foreign arch): `/usr/bin/sh` runs core tools, and the root's own `cc` compiles and runs a
C program.

Plain chroot for now; the namespaced chroot of stage3 will take over when it lands.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import runner
from .audit import audit_binary
from .errors import BuildError
from .fsutil import remove_tree, write_atomic
from .targets import Target

PROGRAM = Path(__file__).resolve().parent.parent / "toolchain" / "acceptance" / "simple.c"
EXPECTED = "in-root cc: sqrt(2)=1.414214 musl-42 len=7\n"
SCRATCH = "tmp/serpent-check"
CORE_TOOLS = (
    "printf 'b\\na\\nc\\n' | sort | head -n 2 | tr '\\n' ' '; echo; "
    "echo hello world | sed s/world/musl/ | grep musl | wc -w; "
    "echo $((6 * 7)); uname -m"
)


@dataclass(frozen=True)
class CompilerCheckSpec:
    target: Target
    root: Path
    forbidden: tuple[str, ...]
    results: Path
    log: Path
    signature: str


def run_compiler_check(spec: CompilerCheckSpec) -> None:
    if os.geteuid() != 0:
        raise BuildError(
            "the in-root compiler check needs root (chroot)", fix="run as root (see `doit check`)"
        )
    scratch = spec.root / SCRATCH
    remove_tree(scratch)
    scratch.mkdir(parents=True)
    shutil.copy(PROGRAM, scratch / "simple.c")
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    spec.log.write_text(f"in-root compiler check in {spec.root}\n")
    env = runner.clean_env(source_date_epoch=0, home=Path("/tmp"))
    inside = f"/{SCRATCH}"
    problems: list[str] = []
    output = ""
    try:
        tools = runner.capture(
            ["chroot", str(spec.root), "/usr/bin/sh", "-c", CORE_TOOLS],
            cwd=spec.root,
            env=env,
            log=spec.log,
        )
        expected_tools = f"a b \n2\n42\n{spec.target.arch}\n"
        if tools != expected_tools:
            problems.append(f"core tools printed {tools!r}, expected {expected_tools!r}")
        runner.run(
            [
                "chroot",
                str(spec.root),
                "/usr/bin/cc",
                "-o",
                f"{inside}/simple",
                f"{inside}/simple.c",
                "-lm",
            ],
            cwd=spec.root,
            env=env,
            log=spec.log,
        )
        problems += audit_binary(scratch / "simple", spec.target, spec.forbidden, static=False)
        output = runner.capture(
            ["chroot", str(spec.root), f"{inside}/simple"], cwd=spec.root, env=env, log=spec.log
        )
        if output != EXPECTED:
            problems.append(f"printed {output!r}, expected {EXPECTED!r}")
    except BuildError as err:
        problems.append(err.what.splitlines()[0])
    finally:
        remove_tree(scratch)
    write_atomic(
        spec.results,
        json.dumps(
            {
                "root": str(spec.root),
                "passed": not problems,
                "output": output,
                "problems": problems,
            },
            indent=2,
        )
        + "\n",
    )
    if problems:
        raise BuildError(
            f"in-root compiler check failed in {spec.root}:\n  " + "\n  ".join(problems),
            fix=f"read {spec.log}",
        )
