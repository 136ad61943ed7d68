"""Run one command chrooted into a root, inside fresh mount/PID/IPC/UTS/network namespaces.

The host side (`Sandbox.command`) only builds an argv: util-linux `unshare` creates the
namespaces and forks this file, run as a script, as PID 1 of the new PID namespace. That
init mounts /proc, /sys, a minimal /dev, a tmpfs /tmp and the requested bind mounts inside
the root, chroots, then forks and execs the command and reaps until it exits.

Why nothing can leak: every mount is made inside a private mount namespace, so the host's
mount table never sees it, and the namespace dies with its last process. The init is killed
when `unshare` dies (--kill-child) and `unshare` when its parent dies (the runner sets a
parent-death signal), so `kill -9` of doit tears the whole tree down.

This file must stay importable without the rest of the package: the init runs it with
`python -I <this file>` and the build's own environment.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {
    "ptmx": "pts/ptmx",
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}
# Mount points the init fills; they must exist in the root (the root layout makes them).
MOUNT_POINTS = ("proc", "sys", "dev", "tmp")
NAMESPACES = ("--mount", "--pid", "--ipc", "--uts", "--net")


@dataclass(frozen=True)
class Bind:
    source: Path  # on the host
    target: str  # absolute path inside the root
    writable: bool = False


@dataclass(frozen=True)
class Sandbox:
    root: Path
    binds: tuple[Bind, ...] = ()
    hostname: str = "serpent"
    # a build's view: the union of its dependencies' layers, hard links that must not be
    # written through (only /tmp and the writable binds are)
    readonly_root: bool = False

    def command(self, argv: list[str], cwd: str = "/") -> list[str]:
        """The host argv that runs `argv` (an argument list, never a shell string) inside."""
        for point in MOUNT_POINTS:
            (self.root / point).mkdir(exist_ok=True)
        spec = {
            "root": str(self.root),
            "binds": [[str(b.source), b.target, b.writable] for b in self.binds],
            "hostname": self.hostname,
            "readonly_root": self.readonly_root,
            "cwd": cwd,
            "argv": argv,
        }
        return [
            "unshare",
            *NAMESPACES,
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "--",
            sys.executable,
            "-I",
            __file__,
            json.dumps(spec),
        ]


# -- inside the namespaces (PID 1) ------------------------------------------------------


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: Path, fstype: str | None, flags: int, data: str = "") -> None:
    result = _libc().mount(
        source.encode(),
        str(target).encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def bind(source: Path, target: Path, writable: bool) -> None:
    mount(str(source), target, None, MS_BIND | MS_REC)
    if not writable:
        mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def make_dev(dev: Path) -> None:
    """A tmpfs /dev holding only the harmless nodes (bind-mounted from the host)."""
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m")
    for name in DEVICES:
        node = dev / name
        node.touch()
        bind(Path("/dev", name), node, writable=True)
    (dev / "pts").mkdir()
    mount("devpts", dev / "pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666")
    (dev / "shm").mkdir()
    mount("tmpfs", dev / "shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, target in DEV_LINKS.items():
        (dev / name).symlink_to(target)


def mount_point(root: Path, inside: str) -> Path:
    """`root`/`inside`, created if missing, refusing symlinks on the way: mounting happens
    before the chroot, so a link would point the mount (or mkdir) at the host."""
    path = root
    for part in Path(inside).relative_to("/").parts:
        path = path / part
        if path.is_symlink():
            raise OSError(f"{inside} in the root goes through a symlink ({path})")
        path.mkdir(exist_ok=True)  # under /tmp it lands in the tmpfs
    return path


def set_up(spec: dict) -> None:
    root = Path(spec["root"])
    nodev = MS_NOSUID | MS_NODEV | MS_NOEXEC
    if spec.get("readonly_root"):
        for point in ("/proc", "/sys", "/dev", "/tmp", *(b[1] for b in spec["binds"])):
            mount_point(root, point)  # while the root can still be written
        bind(root, root, writable=False)
    mount("proc", mount_point(root, "/proc"), "proc", nodev)
    mount("sysfs", mount_point(root, "/sys"), "sysfs", nodev | MS_RDONLY)
    make_dev(mount_point(root, "/dev"))
    mount("tmpfs", mount_point(root, "/tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for source, target, writable in spec["binds"]:
        bind(Path(source), mount_point(root, target), writable)
    socket.sethostname(spec["hostname"])
    os.chroot(root)
    os.chdir(spec["cwd"])


def run_init(spec: dict) -> int:
    """Fork the command, forward termination signals to it, reap everything, return its
    exit status (128 + signal if it was killed)."""
    child = os.fork()
    if child == 0:
        try:
            os.execvp(spec["argv"][0], spec["argv"])
        except OSError as err:
            print(f"sandbox: cannot run {spec['argv'][0]!r}: {err.strerror}", file=sys.stderr)
            os._exit(127)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: os.kill(child, signum))
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def main() -> int:
    spec = json.loads(sys.argv[1])
    try:
        set_up(spec)
    except OSError as err:
        print(f"sandbox: setting up {spec['root']} failed: {err}", file=sys.stderr)
        return 125
    return run_init(spec)


if __name__ == "__main__":
    sys.exit(main())
