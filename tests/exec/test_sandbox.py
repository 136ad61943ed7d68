"""The chroot sandbox, for real: unshare, mounts and PID 1 on a tiny root that borrows the
host's /usr (read-only), so any host command can run inside it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.exec.sandbox import DEVICES, Bind, Sandbox

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="needs root and util-linux unshare (namespaces, mounts, chroot)",
    ),
]

USR = Bind(Path("/usr"), "/usr")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root with the mount points and usr-merge links; /usr itself comes from a bind."""
    root = (tmp_path / "root").resolve()
    root.mkdir()
    for name in ("proc", "sys", "dev", "tmp"):
        (root / name).mkdir()
    for name in ("bin", "lib", "lib64", "sbin"):
        (root / name).symlink_to(f"usr/{name}")
    return root


def run(
    sandbox: Sandbox, argv: list[str], cwd: str = "/", timeout: float = 10
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sandbox.command(argv, cwd=cwd), capture_output=True, text=True, timeout=timeout
    )


def sh(root: Path, script: str, *binds: Bind, **kwargs) -> subprocess.CompletedProcess[str]:
    return run(Sandbox(root, (USR, *binds)), ["/usr/bin/sh", "-c", script], **kwargs)


def mount_lines(path: Path) -> list[str]:
    """Lines of the host's mount table that mention `path`."""
    return [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in ln]


def processes_inside(root: Path) -> set[int]:
    """Processes chrooted into `root`, or whose command line names it (unshare, the init)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            link = os.readlink(proc / "root")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if link == str(root) or link.startswith(f"{root}/") or str(root).encode() in cmdline:
            found.add(int(proc.name))
    return found


def inner_mountinfo(root: Path, *binds: Bind) -> dict[str, list[str]]:
    """Mount point -> mount options, as seen inside the sandbox."""
    proc = sh(root, "cat /proc/self/mountinfo", *binds)
    assert proc.returncode == 0, proc.stderr
    table = {}
    for line in proc.stdout.splitlines():
        fields = line.split()
        table[fields[4]] = fields[5].split(",")
    return table


def test_argv_list_is_passed_through_verbatim(root: Path) -> None:
    args = ["with space", 'it\'s "quoted"', "$HOME", "a;b", "", "*", "\\n", "ünï"]
    proc = run(Sandbox(root, (USR,)), ["/usr/bin/printf", "%s\\n", *args])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:-1] == args


def test_fresh_pid_namespace(root: Path) -> None:
    # `echo` is a dash builtin: the glob sees exactly the init and the shell.
    proc = sh(root, "echo $$; echo /proc/[0-9]*")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["2", "/proc/1 /proc/2"]


def test_fresh_uts_namespace(root: Path) -> None:
    before = socket.gethostname()
    assert sh(root, "hostname").stdout == "serpent\n"
    proc = run(Sandbox(root, (USR,), hostname="box-7"), ["/usr/bin/hostname"])
    assert proc.stdout == "box-7\n"
    assert socket.gethostname() == before


def test_fresh_network_namespace(root: Path) -> None:
    proc = sh(root, "ls /sys/class/net")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["lo"]


def test_usr_is_read_only_and_build_is_writable(root: Path, tmp_path: Path) -> None:
    name = f"serpent-sandbox-test-{os.getpid()}"
    work = tmp_path / "work"
    work.mkdir()
    try:
        proc = sh(
            root,
            f"touch /usr/{name} 2>&1; echo rc=$?; echo made-inside > out; pwd",
            Bind(work, "/build", writable=True),
            cwd="/build",
        )
        assert proc.returncode == 0, proc.stderr
        assert "Read-only file system" in proc.stdout
        assert "rc=1" in proc.stdout
        assert proc.stdout.splitlines()[-1] == "/build"
        assert not Path("/usr", name).exists()
        assert (work / "out").read_text() == "made-inside\n"
        mounts = inner_mountinfo(root, Bind(work, "/build", writable=True))
        assert {"ro", "nosuid", "nodev"} <= set(mounts["/usr"])
        assert "ro" in mounts["/sys"]
        assert "rw" in mounts["/build"]
    finally:
        Path("/usr", name).unlink(missing_ok=True)


def test_bind_target_is_created_and_read_only_by_default(root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("hi\n")
    proc = sh(root, "cat /opt/data/hello; echo x > /opt/data/new", Bind(data, "/opt/data"))
    assert proc.stdout == "hi\n"
    assert proc.returncode != 0
    assert "Read-only" in proc.stderr
    assert not (data / "new").exists()
    assert (root / "opt" / "data").is_dir()  # the init made the mount point


def test_dev_is_minimal_and_real(root: Path) -> None:
    script = (
        "for d in " + " ".join(DEVICES) + "; do test -c /dev/$d || echo missing $d; done; "
        "echo x > /dev/null && echo null-ok; "
        "head -c 4 /dev/zero | od -An -tx1; "
        "if echo x 2>/dev/null > /dev/full; then echo full-accepted; fi; "
        "test $(head -c 16 /dev/urandom | od -An -tx1 | wc -w) = 16 && echo urandom-ok; "
        "readlink /dev/fd; echo via-fd > /dev/fd/1; "
        "ls /dev"
    )
    proc = sh(root, script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith("missing")]
    assert "null-ok" in lines
    assert lines[lines.index("null-ok") + 1].split() == ["00"] * 4
    assert "full-accepted" not in lines
    assert "urandom-ok" in lines
    assert "/proc/self/fd" in lines
    assert "via-fd" in lines
    # nothing of the host's /dev beyond the harmless nodes
    listed = set(lines[lines.index("via-fd") + 1 :])
    assert listed == {*DEVICES, "fd", "ptmx", "pts", "shm", "stdin", "stdout", "stderr"}
    # the nodes lived on a tmpfs in the namespace: nothing landed on the host's disk
    assert list((root / "dev").iterdir()) == []


def test_tmp_is_a_private_tmpfs(root: Path) -> None:
    proc = sh(root, "stat -f -c %T /tmp; echo data > /tmp/marker; cat /tmp/marker")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["tmpfs", "data"]
    assert list((root / "tmp").iterdir()) == []


def test_exit_status_propagates(root: Path) -> None:
    assert sh(root, "exit 7").returncode == 7
    assert sh(root, "exit 0").returncode == 0
    assert sh(root, "kill -9 $$").returncode == 128 + signal.SIGKILL


def test_missing_program_is_a_clear_error(root: Path) -> None:
    proc = run(Sandbox(root, (USR,)), ["/usr/bin/no-such-tool", "arg"])
    assert proc.returncode == 127
    assert "sandbox: cannot run '/usr/bin/no-such-tool'" in proc.stderr
    assert "No such file or directory" in proc.stderr


def test_failed_set_up_is_reported(root: Path, tmp_path: Path) -> None:
    proc = sh(root, "echo ran", Bind(tmp_path / "absent", "/x"))
    assert proc.returncode == 125
    assert proc.stdout == ""
    assert f"sandbox: setting up {root} failed" in proc.stderr
    proc = sh(root, "echo ran", cwd="/no/such/dir")
    assert proc.returncode == 125
    assert "no/such/dir" in proc.stderr


def test_mount_point_through_a_symlink_is_refused(root: Path, tmp_path: Path) -> None:
    """Mounts happen before the chroot: a link in the root must not aim them at the host."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "opt").symlink_to(outside)
    proc = sh(root, "echo ran", Bind(tmp_path, "/opt/x"))
    assert proc.returncode == 125
    assert "goes through a symlink" in proc.stderr
    assert list(outside.iterdir()) == []


@pytest.fixture
def shared_root(tmp_path: Path) -> Iterator[Path]:
    """A root on a *shared* host mount: a mount made under it in a namespace that does not
    turn propagation off would show up in the host's mount table."""
    base = tmp_path / "shared"
    base.mkdir()
    subprocess.run(["mount", "--bind", str(base), str(base)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(base)], check=True)
        root = base / "root"
        root.mkdir()
        for name in ("bin", "lib", "lib64", "sbin"):
            (root / name).symlink_to(f"usr/{name}")
        yield root
    finally:
        subprocess.run(["umount", "--recursive", "--lazy", str(base)], check=True)


def test_no_mount_leaks_into_the_host(shared_root: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    assert len(mount_lines(shared_root.parent)) == 1  # the shared bind itself
    proc = sh(shared_root, "sleep 0.2 & wait", Bind(work, "/build", writable=True))
    assert proc.returncode == 0, proc.stderr
    assert sh(shared_root, "exit 3").returncode == 3
    assert mount_lines(shared_root) == []
    assert mount_lines(work) == []


KILLED_PARENT = """
import sys
from pathlib import Path
from bootstrap.exec import runner
from bootstrap.exec.sandbox import Bind, Sandbox

root, tmp = Path(sys.argv[1]), Path(sys.argv[2])
sandbox = Sandbox(root, (Bind(Path("/usr"), "/usr"),))
runner.run(
    sandbox.command(["/usr/bin/sleep", "60"]),
    cwd=tmp,
    env=runner.clean_env(source_date_epoch=0, home=tmp),
    log=tmp / "log",
)
"""


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def chrooted_sleepers(root: Path) -> list[int]:
    pids = []
    for pid in processes_inside(root):
        try:
            chrooted = os.readlink(f"/proc/{pid}/root") == str(root)
            if chrooted and Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
                pids.append(pid)
        except OSError:
            continue
    return pids


def test_kill_9_of_the_parent_tears_everything_down(root: Path, tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, str(root), str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        started = wait_for(lambda: bool(chrooted_sleepers(root)) or parent.poll() is not None)
        assert started and parent.poll() is None, parent.stderr.read() if parent.stderr else ""
        assert len(processes_inside(root)) >= 3  # unshare, the init, sleep
        assert "unshare" in (tmp_path / "log").read_text()
        parent.kill()
        parent.wait(timeout=5)
        assert wait_for(lambda: not processes_inside(root)), processes_inside(root)
        assert mount_lines(root) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in processes_inside(root):  # only what this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
