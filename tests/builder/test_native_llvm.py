"""A foreign-arch chroot's compiler run natively (issue 14), for real and at small scale.

The emulated compiler is Debian 12's clang-19 for the foreign arch (arm64 on an x86_64
host), unpacked with its libraries from the Debian archive into a scratch root and run by
qemu-user through binfmt_misc. The native one is the host's own clang-19 of the same Debian
version, the same source and configuration, made runnable in that root by bind mounts of
its install and libraries (the bootstrap itself mounts a statically linked LLVM instead,
which needs nothing). native-exec (src/native-exec) stands first in PATH as it does in
stage3. Compiled both ways, a C and a C++ file give the same bytes, and the compiler looks
the same to a build (version, resource dir, predefined macros).
"""

from __future__ import annotations

import hashlib
import lzma
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from conftest import REPO

from bootstrap.exec.binfmt import ensure_binfmt
from bootstrap.exec.sandbox import Bind, Sandbox
from bootstrap.model.targets import load_targets

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("dpkg-deb") is None,
        reason="needs root, util-linux unshare and dpkg-deb",
    ),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="written for an x86_64 host"),
]

ARCHIVE = "http://deb.debian.org/debian"
FOREIGN = "aarch64"  # the target arch; Debian calls it arm64
INDEX = f"{ARCHIVE}/dists/bookworm/main/binary-arm64/Packages.xz"
# clang-19 and what its programs load (Depends, without what only compiling C++ with
# libstdc++ or linking would need)
PACKAGES = (
    *("clang-19", "libclang-cpp19", "libllvm19", "libc6", "libgcc-s1", "gcc-12-base"),
    *("libstdc++6", "libedit2", "libbsd0", "libmd0", "libffi8", "libtinfo6", "libxml2"),
    *("libicu72", "liblzma5", "libz3-4", "zlib1g", "libzstd1"),
)
HOST_LLVM = Path("/usr/lib/llvm-19")
TRIPLE = "aarch64-unknown-linux-gnu"  # the emulated clang's default target
EMULATED = "/usr/lib/llvm-19/bin"
NATIVE_EXEC = "/native/libexec/serpent-native"

C_SOURCE = """
struct point { long x, y; };
static long dot(const struct point *a, const struct point *b) { return a->x * b->x + a->y * b->y; }
long norm2(const struct point *p, int n) {
    long sum = 0;
    for (int i = 0; i < n; i++) sum += dot(&p[i], &p[i]);
    return sum;
}
double mix(double a, double b, float t) { return a + (b - a) * t; }
"""
CXX_SOURCE = """
template <typename T> struct Box {
    T value;
    explicit Box(T v) : value(v) {}
    virtual ~Box() = default;
    virtual T get() const { return value; }
};
struct Error { int code; };
template <typename T> T checked(const Box<T>& box) {
    if (box.get() < 0) throw Error{static_cast<int>(box.get())};
    return box.get() * 2;
}
int twice(int n) {
    try { return checked(Box<int>{n}); } catch (const Error& e) { return e.code; }
}
double twice(double d) {
    auto f = [d](double k) { return checked(Box<double>{d}) * k; };
    return f(0.5);
}
"""


def installed_version(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
    ).stdout


def index_entries(text: str) -> dict[str, dict[str, str]]:
    entries = {}
    for stanza in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if line[:1].strip() and ": " in line
        )
        if "Package" in fields:
            entries[fields["Package"]] = fields
    return entries


def download(url: str, dest: Path, sha256: str | None = None) -> Path:
    if dest.is_file() and (sha256 is None or sha(dest) == sha256):
        return dest
    response = requests.get(url, timeout=60)
    response.raise_for_status()
    dest.write_bytes(response.content)
    assert sha256 is None or sha(dest) == sha256, f"{url}: sha256 differs from the index"
    return dest


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scratch root: the arm64 clang-19 and its libraries, and /native with native-exec
    and bin/clang pointing at the host's clang-19 (bound in by `binds`)."""
    if not HOST_LLVM.joinpath("bin", "clang").exists():
        pytest.skip("needs the host's clang-19 (tools/setup-host installs it)")
    cache = Path(request.config.cache.mkdir("debian-arm64"))
    entries = index_entries(
        lzma.decompress(download(INDEX, cache / "Packages.xz").read_bytes()).decode()
    )
    version = entries["clang-19"]["Version"]
    assert version == installed_version("clang-19"), (
        f"the archive's arm64 clang-19 is {version}, the host's {installed_version('clang-19')}: "
        "upgrade the host's clang-19 (apt-get install clang-19) so both are the same build"
    )
    root = tmp_path_factory.mktemp("native-llvm") / "root"
    root.mkdir()
    for name in PACKAGES:
        entry = entries[name]
        deb = download(
            f"{ARCHIVE}/{entry['Filename']}", cache / Path(entry["Filename"]).name, entry["SHA256"]
        )
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    native = root / "native"
    built = subprocess.run(
        [
            "make",
            "-C",
            str(REPO / "src" / "native-exec"),
            f"O={tmp_path_factory.mktemp('ne')}",
            f"TRIPLET={TRIPLE}",
            "LLVM_MAJOR=19",
            f"DESTDIR={native}",
            "install",
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    for program in ("clang", "ld.lld", "llvm-ar"):
        (native / "bin").mkdir(exist_ok=True)
        (native / "bin" / program).symlink_to(f"/usr/lib/host-llvm-19/bin/{program}")
    (root / "work").mkdir()
    (root / "work" / "t.c").write_text(C_SOURCE)
    (root / "work" / "u.c").write_text(C_SOURCE.replace("norm2", "norm3"))
    (root / "work" / "t.cc").write_text(CXX_SOURCE)
    ensure_binfmt(load_targets(REPO / "toolchain")[FOREIGN])
    return root


def binds() -> tuple[Bind, ...]:
    """The host's clang-19 and the libraries it loads, where its loader and RUNPATH look."""
    lib = Path("/usr/lib/x86_64-linux-gnu")
    return (
        Bind(HOST_LLVM, "/usr/lib/host-llvm-19"),
        Bind(lib, str(lib)),
        Bind(lib, "/lib/x86_64-linux-gnu"),
        Bind(Path("/usr/lib64"), "/lib64"),
    )


def inside(root: Path, argv: list[str], native: bool) -> subprocess.CompletedProcess[str]:
    path = f"{NATIVE_EXEC}:{EMULATED}" if native else EMULATED
    command = Sandbox(root, binds()).command(argv, cwd="/work")
    result = subprocess.run(
        [shutil.which("unshare") or "unshare", *command[1:]],  # PATH is the chroot's
        env={"PATH": path, "LC_ALL": "C"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{argv}: {result.stderr}"
    return result


def both(root: Path, argv: list[str]) -> tuple[str, str]:
    return inside(root, argv, native=False).stdout, inside(root, argv, native=True).stdout


def test_the_native_compiler_looks_like_the_emulated_one(root: Path) -> None:
    for argv in (
        ["clang", "--version"],
        ["clang", "-print-resource-dir"],
        ["clang++", "-print-target-triple"],
        ["clang", "-dM", "-E", "-x", "c", "/dev/null"],
    ):
        emulated, native = both(root, argv)
        assert native == emulated, argv
    # and it really is native-exec's doing: clang finds ld.lld through it
    assert inside(root, ["clang", "-print-prog-name=ld.lld"], native=True).stdout.strip() == (
        f"{NATIVE_EXEC}/ld.lld"
    )


@pytest.mark.parametrize(("source", "driver"), [("t.c", "clang"), ("t.cc", "clang++")])
def test_a_file_compiled_natively_and_emulated_gives_the_same_bytes(
    root: Path, source: str, driver: str
) -> None:
    for native in (False, True):
        out = f"{source}.{'native' if native else 'emulated'}.o"
        inside(root, [driver, "-O2", "-fPIC", "-g", "-c", source, "-o", out], native)
    emulated = (root / "work" / f"{source}.emulated.o").read_bytes()
    assert emulated[:4] == b"\x7fELF" and emulated[18] == 183  # EM_AARCH64
    assert (root / "work" / f"{source}.native.o").read_bytes() == emulated


def test_one_command_of_several_jobs_runs_every_cc1_natively(root: Path) -> None:
    """Two sources in one command (as compile-and-link in one is) make clang run each cc1
    as a new process of its own executable: the native one, not the emulated one."""
    argv = ["clang", "-O2", "-c", "t.c", "u.c"]
    jobs = inside(root, [*argv, "-###"], native=True).stderr
    cc1 = [line.split('" "')[0].strip(' "') for line in jobs.splitlines() if '"-cc1"' in line]
    assert cc1 == ["/usr/lib/host-llvm-19/bin/clang"] * 2  # the native one, bound in
    objects: dict[str, list[bytes]] = {"t.o": [], "u.o": []}
    for native in (False, True):
        inside(root, argv, native)
        for name, built in objects.items():
            built.append((root / "work" / name).read_bytes())
    for name, (emulated, native) in objects.items():
        assert native == emulated, name
