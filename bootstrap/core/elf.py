"""A minimal ELF reader: machine, interpreter, dynamic tags. Enough for output audits."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
MACHINES = {"EM_X86_64": 62, "EM_AARCH64": 183}
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 1, 5, 15, 29


@dataclass(frozen=True)
class ElfInfo:
    machine: int
    interpreter: str | None
    needed: tuple[str, ...] = ()
    rpath: tuple[str, ...] = field(default=())  # DT_RPATH and DT_RUNPATH entries


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == ELF_MAGIC
    except OSError:
        return False


def read_elf(path: Path) -> ElfInfo:
    return parse_elf(path.read_bytes(), str(path))


def parse_elf(data: bytes, name: str) -> ElfInfo:
    """Parse a 64-bit little-endian ELF image (both targets are)."""
    if data[:4] != ELF_MAGIC or len(data) < 64 or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{name}: not a 64-bit little-endian ELF file")
    machine = struct.unpack_from("<H", data, 18)[0]
    phoff, phentsize, phnum = (
        struct.unpack_from("<Q", data, 32)[0],
        *struct.unpack_from("<HH", data, 54),
    )
    headers = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)]
    interp = next(
        (data[h[2] : h[2] + h[5]].rstrip(b"\0").decode() for h in headers if h[0] == PT_INTERP),
        None,
    )
    dynamic = next((h for h in headers if h[0] == PT_DYNAMIC), None)
    if dynamic is None:
        return ElfInfo(machine, interp)
    tags = [struct.unpack_from("<qQ", data, dynamic[2] + off) for off in range(0, dynamic[5], 16)]
    strtab = next((_offset(headers, v) for t, v in tags if t == DT_STRTAB), None)

    def string(off: int) -> str:
        assert strtab is not None
        end = data.index(b"\0", strtab + off)
        return data[strtab + off : end].decode(errors="replace")

    needed = tuple(string(v) for t, v in tags if t == DT_NEEDED)
    rpath = tuple(p for t, v in tags if t in (DT_RPATH, DT_RUNPATH) for p in string(v).split(":"))
    return ElfInfo(machine, interp, needed, rpath)


def _offset(headers: list[tuple[int, ...]], vaddr: int) -> int:
    for typ, _flags, offset, addr, _paddr, filesz, _memsz, _align in headers:
        if typ == PT_LOAD and addr <= vaddr < addr + filesz:
            return vaddr - addr + offset
    raise ValueError(f"address {vaddr:#x} is in no PT_LOAD segment")
