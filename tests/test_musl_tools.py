"""getconf and getent (src/musl-tools), built with the host's compilers into tmp dirs and
checked by their own tests/run.sh and against what Python reads through the host libc."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO

TOOLS = REPO / "src" / "musl-tools"
STRICT = "-std=c99 -Wall -Wextra -Werror -O2"
# cc is the host's gcc (glibc); the others are optional and skipped when absent.
COMPILERS = ["cc", "/usr/bin/clang-19", "/usr/bin/musl-gcc"]
# musl-gcc links statically: the programs then run without musl's dynamic loader.
LDFLAGS = {"musl-gcc": "-static"}

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-C", str(TOOLS), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build both programs with a compiler (once per module) into a tmp dir; return it."""
    built: dict[str, Path] = {}

    def build_with(cc: str) -> Path:
        if cc not in built:
            if shutil.which(cc) is None:
                pytest.skip(f"{cc} is not installed")
            out = tmp_path_factory.mktemp(f"musl-tools-{Path(cc).name}")
            ldflags = LDFLAGS.get(Path(cc).name, "")
            result = make(f"O={out}", f"CC={cc}", f"CFLAGS={STRICT}", f"LDFLAGS={ldflags}")
            assert result.returncode == 0, result.stdout + result.stderr
            built[cc] = out
        return built[cc]

    return build_with


@pytest.fixture(scope="module")
def tools(build: Callable[[str], Path]) -> Path:
    return build("cc")


def run(tool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool), *args], capture_output=True, text=True)


def getconf(tools: Path, *args: str) -> str:
    result = run(tools / "getconf", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")


@pytest.mark.parametrize("cc", COMPILERS, ids=lambda cc: Path(cc).name)
def test_run_sh_passes_with_each_compiler(build: Callable[[str], Path], cc: str) -> None:
    out = build(cc)
    result = subprocess.run(
        ["sh", str(TOOLS / "tests" / "run.sh"), str(out)], capture_output=True, text=True
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines and all(line.startswith(("ok ", "skip ")) for line in lines), result.stdout
    assert any("getconf PAGE_SIZE" in line for line in lines)


def test_build_leaves_the_source_tree_untouched(tools: Path) -> None:
    assert sorted(p.name for p in tools.iterdir()) == ["getconf", "getent"]
    assert not (TOOLS / "getconf").exists() and not (TOOLS / "getent").exists()


def test_makefile_honours_cc_cflags_ldflags(tmp_path: Path) -> None:
    result = make("-n", f"O={tmp_path}", "CC=my-cc", "CFLAGS=-DMY_FLAG", "LDFLAGS=-Lmy/lib")
    assert result.returncode == 0, result.stderr
    assert f"my-cc -DMY_FLAG -Lmy/lib -o {tmp_path}/getconf getconf.c" in result.stdout
    assert f"my-cc -DMY_FLAG -Lmy/lib -o {tmp_path}/getent getent.c" in result.stdout


def test_make_check_and_install_into_destdir(tools: Path, tmp_path: Path) -> None:
    check = make(f"O={tools}", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "FAIL" not in check.stdout
    root = tmp_path / "root"
    install = make(f"O={tools}", f"DESTDIR={root}", "PREFIX=/opt/x", "install")
    assert install.returncode == 0, install.stderr
    for name in ("getconf", "getent"):
        installed = root / "opt/x/bin" / name
        assert installed.read_bytes() == (tools / name).read_bytes()
        assert installed.stat().st_mode & 0o777 == 0o755


def test_getconf_values_match_the_host_libc(tools: Path) -> None:
    long_bit = 8 * struct.calcsize("l")
    assert getconf(tools, "PAGE_SIZE") == getconf(tools, "PAGESIZE")
    assert int(getconf(tools, "PAGE_SIZE")) == os.sysconf("SC_PAGE_SIZE")
    assert int(getconf(tools, "CLK_TCK")) == os.sysconf("SC_CLK_TCK")
    assert int(getconf(tools, "OPEN_MAX")) == os.sysconf("SC_OPEN_MAX")
    assert int(getconf(tools, "ARG_MAX")) == os.sysconf("SC_ARG_MAX")
    assert int(getconf(tools, "_NPROCESSORS_CONF")) == os.sysconf("SC_NPROCESSORS_CONF")
    assert getconf(tools, "PATH") == os.confstr("CS_PATH")
    assert int(getconf(tools, "NAME_MAX", "/")) == os.pathconf("/", "PC_NAME_MAX")
    assert int(getconf(tools, "PIPE_BUF", "/")) == os.pathconf("/", "PC_PIPE_BUF")
    assert int(getconf(tools, "LONG_BIT")) == long_bit
    assert int(getconf(tools, "ULONG_MAX")) == 2**long_bit - 1
    assert int(getconf(tools, "INT_MIN")) == -(2**31)


def test_getconf_accepts_names_with_or_without_prefixes(tools: Path) -> None:
    assert getconf(tools, "NPROCESSORS_ONLN") == getconf(tools, "_NPROCESSORS_ONLN")
    assert getconf(tools, "JOB_CONTROL") == getconf(tools, "_POSIX_JOB_CONTROL")
    assert getconf(tools, "POSIX_VERSION") == getconf(tools, "_POSIX_VERSION")
    assert getconf(tools, "_POSIX2_SYMLINKS", "/") == getconf(tools, "POSIX2_SYMLINKS", "/")
    # _POSIX_ARG_MAX is the POSIX minimum, never confused with ARG_MAX.
    assert getconf(tools, "_POSIX_ARG_MAX") == "4096"


def test_getconf_undefined_is_not_an_error(tools: Path) -> None:
    candidates = {
        "AIO_LISTIO_MAX": "SC_AIO_LISTIO_MAX",
        "AIO_MAX": "SC_AIO_MAX",
        "MQ_OPEN_MAX": "SC_MQ_OPEN_MAX",
        "SEM_NSEMS_MAX": "SC_SEM_NSEMS_MAX",
        "TIMER_MAX": "SC_TIMER_MAX",
    }
    unlimited = [
        name for name, sc in candidates.items() if sc in os.sysconf_names and os.sysconf(sc) == -1
    ]
    if not unlimited:
        pytest.skip("the host libc limits every candidate")
    result = run(tools / "getconf", unlimited[0])
    assert (result.returncode, result.stdout, result.stderr) == (0, "undefined\n", "")


def test_getconf_all_lists_each_name_once(tools: Path) -> None:
    lines = getconf(tools, "-a").splitlines()
    names = [line.split()[0] for line in lines]
    assert len(names) == len(set(names)) > 200
    values = dict(line.split(None, 1) for line in lines if len(line.split(None, 1)) == 2)
    assert values["PAGE_SIZE"] == getconf(tools, "PAGE_SIZE")
    assert values["NAME_MAX"] == getconf(tools, "NAME_MAX", "/")
    assert {"LONG_BIT", "PATH", "_POSIX_VERSION", "_NPROCESSORS_ONLN"} <= set(names)


def test_getconf_errors_and_exit_codes(tools: Path) -> None:
    unknown = run(tools / "getconf", "NO_SUCH_NAME")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "getconf: NO_SUCH_NAME: unknown variable\n"
    for args in ([], ["PAGE_SIZE", "/", "extra"], ["-x"], ["NAME_MAX"], ["PAGE_SIZE", "/"]):
        usage = run(tools / "getconf", *args)
        assert usage.returncode == 2 and usage.stderr and not usage.stdout, args
    missing = run(tools / "getconf", "NAME_MAX", "/no/such/path")
    assert missing.returncode == 1 and "/no/such/path" in missing.stderr
    assert run(tools / "getconf", "-v", "POSIX_VERSION", "PATH").returncode == 1


def test_getent_passwd_and_group_match_the_host_libc(tools: Path) -> None:
    getent = tools / "getent"
    root = pwd.getpwuid(0)
    expected = ":".join(map(str, root)) + "\n"
    assert run(getent, "passwd", root.pw_name).stdout == expected
    assert run(getent, "passwd", "0").stdout == expected
    everyone = "".join(":".join(map(str, p)) + "\n" for p in pwd.getpwall())
    assert run(getent, "passwd").stdout == everyone
    group = grp.getgrgid(0)
    line = f"{group.gr_name}:{group.gr_passwd}:0:{','.join(group.gr_mem)}\n"
    assert run(getent, "group", "0").stdout == line
    assert run(getent, "group", group.gr_name).stdout == line


def test_getent_missing_keys_exit_2_after_printing_the_found_ones(tools: Path) -> None:
    result = run(tools / "getent", "passwd", "no-such-user-xyz", "0")
    assert result.returncode == 2
    assert result.stdout.startswith(f"{pwd.getpwuid(0).pw_name}:")
    assert run(tools / "getent", "group", "4294967296").returncode == 2


def test_getent_hosts_by_name_and_address(tools: Path) -> None:
    by_name = run(tools / "getent", "hosts", "localhost")
    assert by_name.returncode == 0
    assert by_name.stdout.split()[0] in ("127.0.0.1", "::1")
    by_address = run(tools / "getent", "hosts", "127.0.0.1")
    if by_address.returncode == 2:
        pytest.skip("127.0.0.1 has no name on this host")
    assert by_address.stdout.split()[0] == "127.0.0.1"
    ahosts = run(tools / "getent", "ahostsv4", "localhost")
    assert ahosts.returncode == 0 and "127.0.0.1" in ahosts.stdout and "STREAM" in ahosts.stdout


def test_getent_services_and_protocols_match_the_host_libc(tools: Path) -> None:
    getent = tools / "getent"
    if not Path("/etc/services").exists() or not Path("/etc/protocols").exists():
        pytest.skip("needs /etc/services and /etc/protocols")
    port = socket.getservbyname("ssh", "tcp")
    assert run(getent, "services", "ssh/tcp").stdout.split()[:2] == ["ssh", f"{port}/tcp"]
    assert run(getent, "services", f"{port}/tcp").stdout.split()[0] == "ssh"
    assert run(getent, "services", "ssh/nosuchproto").returncode == 2
    assert f"\nssh                   {port}/tcp" in "\n" + run(getent, "services").stdout
    number = socket.getprotobyname("udp")
    assert run(getent, "protocols", "udp").stdout.split()[:2] == ["udp", str(number)]
    assert run(getent, "protocols", str(number)).stdout.split()[0] == "udp"
    assert run(getent, "protocols", "no-such-protocol").returncode == 2


def test_getent_usage_errors_and_exit_codes(tools: Path) -> None:
    getent = tools / "getent"
    unknown = run(getent, "nosuchdb")
    assert unknown.returncode == 1 and "getent: nosuchdb: unknown database" in unknown.stderr
    assert run(getent).returncode == 1
    no_enum = run(getent, "ahosts")
    assert no_enum.returncode == 3 and "enumeration not supported" in no_enum.stderr
    help_text = run(getent, "--help")
    assert help_text.returncode == 0 and "passwd" in help_text.stdout
