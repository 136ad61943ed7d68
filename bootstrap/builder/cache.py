"""The component cache: finished layers kept under their build key, restored instead of built.

An entry is a directory `<cache>/<key>-<epoch>/` with `layer.tar.zst`, a deterministic tarball of
the layer (sorted names, owner 0/0, mtimes clamped to SOURCE_DATE_EPOCH, modes, symlinks
and hard links kept), and `layer.meta`, a small text file: the key, the component, the
layer digest (`tree_digest`), the tarball's sha256 and the layer's manifest lines. An entry
is staged beside its final name and renamed into place whole. SOURCE_DATE_EPOCH is no input
of a key, but what a build embeds and the mtimes depend on it: it names the entry too.

A local directory is the cache; a repository of an OCI registry can back it (through the
`oras` client; one artifact per entry, tagged with its name): a local miss pulls from it into
the local cache, and a run that pushes uploads what it built. Wherever it came from, an
entry is verified before use: the tarball's sha256 against the metadata, then the unpacked
tree against the recorded digest. A bad entry is reported, removed from the local cache, and
the component is built. A registry that cannot be reached (or refuses) is reported once per
run and left alone for the rest of it: a cache only ever saves time. A run that pushes also
uploads what it restored from the local cache when the registry lacks it.

With a size limit, storing an entry evicts the least recently used ones (an entry's mtime
is its last use: set when it is stored, restored or pulled) until the local cache fits.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import tarfile
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ..core.errors import BootstrapError, BuildError
from ..core.fsutil import remove_tree, sha256_file
from ..exec import runner
from ..fetching.fetch import Warn
from ..model.config import CachePolicy
from .layers import Entry, layer_manifest, manifest_digest

TARBALL, META = "layer.tar.zst", "layer.meta"
FORMAT = "serpent-layer-cache 1"
MEDIA_TYPES = {
    TARBALL: "application/vnd.serpent.layer.v1.tar+zstd",
    META: "application/vnd.serpent.layer.meta.v1+text",
}
TITLE = "org.opencontainers.image.title"  # the annotation naming a file of an artifact
LABEL = "org.serpent.component"
TIMEOUTS = (5.0, 120.0)  # seconds to connect to the registry, and between bytes of a reply
STALE = 86400.0  # seconds: what a killed run left in the cache dir goes after a day
ENTRY_NAME = re.compile(r"[0-9a-f]{64}-\d+")  # what eviction may remove in the cache dir
SPECIAL_TYPES = {stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE}
SPECIAL_TYPES[stat.S_IFIFO] = tarfile.FIFOTYPE
# _MemberGuard checks every member first; tarfile's own filters would drop setuid bits
TRUSTED: dict[str, Any] = (
    {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
)


class Rejected(Exception):
    """A cache entry that is not what its metadata says."""


@dataclass(frozen=True)
class Meta:
    key: str
    label: str
    digest: str  # the layer's tree_digest
    tarball_sha256: str
    epoch: int  # the mtimes in the tarball are clamped to it
    manifest: tuple[str, ...]  # the layer's entries, as its digest takes them

    def text(self) -> str:
        head = (FORMAT, f"key {self.key}", f"label {self.label}", f"digest {self.digest}")
        head += (f"tarball {self.tarball_sha256}", f"epoch {self.epoch}", "manifest")
        return "\n".join((*head, *self.manifest)) + "\n"

    @classmethod
    def read(cls, path: Path) -> Meta:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            raise Rejected(f"its metadata {path.name} is missing or unreadable") from None
        head, found, body = text.partition("\nmanifest\n")
        lines = head.split("\n")
        if not found or lines[0] != FORMAT:
            raise Rejected(f"{path.name} is no {FORMAT} file")
        fields = dict(line.partition(" ")[::2] for line in lines[1:])
        try:
            return cls(
                fields["key"],
                fields["label"],
                fields["digest"],
                fields["tarball"],
                int(fields["epoch"]),
                tuple(body.removesuffix("\n").split("\n")) if body else (),
            )
        except (KeyError, ValueError) as err:
            raise Rejected(f"{path.name} has no valid {err}") from None


def restore_layer(
    policy: CachePolicy | None, key: str, label: str, staging: Path, epoch: int, warn: Warn
) -> str | None:
    """Unpack the cached layer of `key` (its mtimes clamped to `epoch`) into `staging`,
    verified; return where it came from (the local dir or the registry), or None when no
    cache has a good entry."""
    if policy is None:
        return None
    entry = entry_path(policy, key, epoch)
    places = [(str(policy.local), entry.is_dir, False)]
    if policy.remote:
        places.append((policy.remote, partial(_pull, policy, entry, warn), True))
    for where, present, pulled in places:
        if not present():
            continue
        with suppress(OSError):
            os.utime(entry)  # in use: the last one to be evicted
        try:
            _unpack_verified(entry, key, staging, epoch)
        except Rejected as bad:
            warn(f"{label}: the cached layer from {where} is rejected: {bad}")
            with suppress(BootstrapError):
                remove_tree(entry)
        except (OSError, BootstrapError) as err:
            warn(f"{label}: cannot restore the cached layer from {where}: {err}")
        else:
            if pulled:
                _fit(policy, entry)  # one entry more in the local cache
            elif policy.push:
                _push(policy, entry, label, warn, unless_present=True)
            return where
        remove_tree(staging)
    return None


def store_layer(
    policy: CachePolicy | None, key: str, label: str, layer: Path, epoch: int, warn: Warn
) -> None:
    """Keep a built layer in the local cache, then upload it when the run pushes. A failure
    is a warning: the build itself is done."""
    if policy is None:
        return
    entry = entry_path(policy, key, epoch)
    try:
        if entry.is_dir():
            os.utime(entry)  # stored again: used now
        else:
            _write_entry(layer, entry, key, label, epoch)
    except (OSError, BootstrapError) as err:
        warn(f"{label}: not kept in the cache: {err}")
        return
    _fit(policy, entry)
    if policy.push:
        _push(policy, entry, label, warn)


def entry_path(policy: CachePolicy, key: str, epoch: int) -> Path:
    """`<cache>/<key>-<epoch>`: the name ENTRY_NAME matches."""
    return policy.local / f"{key}-{epoch}"


def cached_files(
    policy: CachePolicy | None,
    key: str,
    label: str,
    files: Sequence[Path],
    produce: Callable[[], bool],
    epoch: int,
    warn: Warn,
) -> bool:
    """`files` (in one directory) restored from the cache entry of `key`, or made by
    `produce` and kept there when it succeeds (returns True). A check's results, a rootfs
    tarball: outputs keyed by what they were made from. True when restored."""
    home = files[0].parent
    staging = home / f".{files[0].name}.restored"
    names = sorted(p.name for p in files)
    if restore_layer(policy, key, label, staging, epoch, warn):
        if sorted(p.name for p in staging.iterdir()) == names:
            for path in files:
                os.replace(staging / path.name, path)
            remove_tree(staging)
            return True
        warn(f"{label}: the cached entry does not hold {', '.join(names)}; making them")
        remove_tree(staging)
    if produce() and policy is not None:
        kept = home / f".{files[0].name}.kept"
        try:
            remove_tree(kept)
            kept.mkdir()
            for path in files:
                os.link(path, kept / path.name)
            store_layer(policy, key, label, kept, epoch, warn)
        except OSError as err:
            warn(f"{label}: not kept in the cache: {err}")
        finally:
            remove_tree(kept)
    return False


# -- the local entry -------------------------------------------------------------------------
def _write_entry(layer: Path, entry: Path, key: str, label: str, epoch: int) -> None:
    _sweep(entry.parent, ".*.tmp-*")
    staging = entry.with_name(f".{entry.name}.tmp-{os.getpid()}")
    remove_tree(staging)
    staging.mkdir(parents=True)
    try:
        entries = layer_manifest(layer)
        _pack(layer, entries, staging / TARBALL, epoch)
        meta = Meta(
            key,
            label,
            manifest_digest(entries),
            sha256_file(staging / TARBALL),
            epoch,
            tuple(e.digest_line() for e in entries),
        )
        (staging / META).write_text(meta.text(), encoding="utf-8", errors="surrogateescape")
        _rename_entry(staging, entry)
    finally:
        remove_tree(staging)


def _fit(policy: CachePolicy, keep: Path) -> None:
    """Remove the least recently used entries (but `keep`) until the local cache fits its
    size limit. Only entries: whatever else the directory holds stays. An entry is renamed
    away before it is deleted, so no reader finds half of one. Best effort: what cannot be
    removed stays, and the next store tries again."""
    if policy.max_size is None:
        return
    _sweep(policy.local, ".*.evicted-*")
    entries = []
    with suppress(OSError):
        for path in policy.local.iterdir():
            if ENTRY_NAME.fullmatch(path.name) and path != keep:
                with suppress(OSError):  # another run evicted it meanwhile
                    entries.append((path.stat().st_mtime, _entry_size(path), path))
    total = sum(size for _, size, _ in entries)
    with suppress(OSError):
        total += _entry_size(keep)
    for _, size, path in sorted(entries):
        if total <= policy.max_size:
            break
        if _evict(path):
            total -= size


def _entry_size(entry: Path) -> int:
    return sum(f.lstat().st_size for f in entry.iterdir())


def _evict(entry: Path) -> bool:
    """Whether `entry` is gone (removed here, or by another run meanwhile)."""
    doomed = entry.with_name(f".{entry.name}.evicted-{os.getpid()}")
    try:
        os.rename(entry, doomed)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    with suppress(OSError, BootstrapError):
        remove_tree(doomed)  # a leftover is swept later
    return True


def _rename_entry(staging: Path, entry: Path) -> None:
    try:
        os.rename(staging, entry)
    except OSError as err:
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise  # else another run stored the same key meanwhile: the same layer


def _pack(layer: Path, entries: list[Entry], tarball: Path, epoch: int) -> None:
    try:
        zstd = runner.feed(["zstd", "-q", "-3", "-c"], tarball)
    except FileNotFoundError:
        raise BuildError("packing a layer needs the zstd tool", fix="install zstd") from None
    assert zstd.stdin is not None and zstd.stderr is not None
    inodes: dict[tuple[int, int], str] = {}  # a file linked twice in the layer: its first name
    try:
        with tarfile.open(fileobj=zstd.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for entry in entries:
                _add(tar, layer, entry, epoch, inodes)
    finally:
        zstd.stdin.close()
        failed = zstd.wait()
    if failed:
        raise BuildError(f"zstd failed: {zstd.stderr.read().decode(errors='replace').strip()}")


def _add(
    tar: tarfile.TarFile, layer: Path, entry: Entry, epoch: int, inodes: dict[tuple[int, int], str]
) -> None:
    path = layer / entry.path
    st = os.lstat(path)
    info = tarfile.TarInfo(entry.path)
    info.mode, info.uid, info.gid = stat.S_IMODE(st.st_mode), 0, 0
    info.mtime = min(int(st.st_mtime), epoch)  # as the rootfs tarball stores it
    inode = (st.st_dev, st.st_ino)
    if entry.kind == "d":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "l":
        info.type, info.linkname = tarfile.SYMTYPE, entry.value
    elif entry.kind == "s":
        if stat.S_IFMT(st.st_mode) not in SPECIAL_TYPES:
            raise BuildError(f"{entry.path} is a socket, which a tarball cannot hold")
        info.type = SPECIAL_TYPES[stat.S_IFMT(st.st_mode)]
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif inode in inodes:
        info.type, info.linkname = tarfile.LNKTYPE, inodes[inode]
    else:
        inodes[inode] = entry.path
        info.size = st.st_size
        with path.open("rb") as data:
            tar.addfile(info, data)
        return
    tar.addfile(info)


def _unpack_verified(entry: Path, key: str, staging: Path, epoch: int) -> None:
    meta = Meta.read(entry / META)
    if meta.key != key:
        raise Rejected(f"its metadata is for the key {meta.key}")
    if meta.epoch != epoch:
        raise Rejected(f"its metadata is for SOURCE_DATE_EPOCH {meta.epoch}")
    if not (entry / TARBALL).is_file():
        raise Rejected(f"its tarball {TARBALL} is missing")
    actual = sha256_file(entry / TARBALL)
    if actual != meta.tarball_sha256:
        raise Rejected(f"the tarball's sha256 is {actual}, its metadata says {meta.tarball_sha256}")
    remove_tree(staging)
    _unpack(entry / TARBALL, staging)
    found = layer_manifest(staging)
    if manifest_digest(found) != meta.digest:
        differing = _paths(set(meta.manifest) ^ {e.digest_line() for e in found})
        raise Rejected(f"the unpacked layer differs from its metadata at {differing}")


def _paths(lines: set[str]) -> str:
    """The paths of manifest lines (`kind path mode value`, `l path -> target`), a few."""
    paths = set()
    for line in lines:
        body = line[2:]
        if line.startswith("l "):
            paths.add(body.partition(" -> ")[0])
        else:
            paths.add(body.rsplit(" ", 1 if line.startswith("d ") else 2)[0])
    listed = sorted(paths)
    return ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")


def _unpack(tarball: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    try:
        zstd = runner.stream(["zstd", "-dcq", "--", str(tarball)])
    except FileNotFoundError:
        raise BuildError("restoring a layer needs the zstd tool", fix="install zstd") from None
    assert zstd.stdout is not None and zstd.stderr is not None
    guard, dirs = _MemberGuard(), list[tarfile.TarInfo]()
    with zstd:
        try:
            with tarfile.open(fileobj=zstd.stdout, mode="r|") as tar:
                while (member := tar.next()) is not None:
                    tar.members.clear()  # a stream: do not keep every member in memory
                    guard.check(member)
                    _extract(tar, member, dest)
                    if member.isdir():
                        dirs.append(member)
        except (tarfile.TarError, EOFError) as err:
            zstd.kill()
            raise Rejected(f"the tarball does not unpack: {err}") from None
        while zstd.stdout.read(1 << 16):  # to the end: zstd checks its frame's checksum
            pass
        if zstd.wait() != 0:
            raise Rejected(f"zstd: {zstd.stderr.read().decode(errors='replace').strip()}")
    for member in sorted(dirs, key=lambda m: m.name, reverse=True):  # filled, deepest first
        os.chmod(dest / member.name, member.mode)
        os.utime(dest / member.name, (member.mtime, member.mtime))


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    # a directory's mode and time are set once its contents are in
    tar.extract(member, dest, set_attrs=not member.isdir(), numeric_owner=True, **TRUSTED)
    if member.issym():  # tarfile leaves a symlink's mtime alone
        os.utime(dest / member.name, (member.mtime, member.mtime), follow_symlinks=False)


class _MemberGuard:
    """Each member, before it is extracted: a relative name without '..', never twice,
    never through a symlink; a hard link only to an earlier file. Then nothing is written
    outside the tree, whatever the tarball holds (its links are kept, never followed)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.symlinks: set[str] = set()
        self.files: set[str] = set()

    def check(self, member: tarfile.TarInfo) -> None:
        name = member.name
        parts = name.split("/")
        parents = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if name.startswith("/") or {"..", ".", ""} & set(parts):
            raise Rejected(f"the tarball member {name!r} is no plain relative path")
        if name in self.seen or parents & self.symlinks:
            raise Rejected(f"the tarball member {name!r} is a duplicate or below a symlink")
        if member.islnk() and member.linkname not in self.files:
            raise Rejected(f"the tarball member {name!r} links to no earlier file")
        kinds = (member.isreg, member.isdir, member.issym, member.islnk, member.isdev)
        if not any(is_kind() for is_kind in kinds):  # isdev: a device or a fifo
            raise Rejected(f"the tarball member {name!r} is of an unknown type")
        self.seen.add(name)
        if member.issym():
            self.symlinks.add(name)
        elif member.isreg() or member.islnk():
            self.files.add(name)


# -- the registry ----------------------------------------------------------------------------
def _pull(policy: CachePolicy, entry: Path, warn: Warn) -> bool:
    """Download the registry's copy of `entry` into the local cache; False if it has none."""
    registry = _registry(policy, warn)
    if registry is None:
        return False
    staging = entry.with_name(f".{entry.name}.tmp-{os.getpid()}")
    try:
        container, reply = _manifest(registry, policy, entry)
        if reply.status_code == 404:
            return False
        reply.raise_for_status()
        remove_tree(staging)
        staging.mkdir(parents=True)
        for layer in reply.json().get("layers", []):
            name = (layer.get("annotations") or {}).get(TITLE)
            if name in MEDIA_TYPES:  # only the two files of an entry, under their own names
                registry.download_blob(container, layer["digest"], str(staging / name))
        _rename_entry(staging, entry)
    except Exception as err:  # whatever failed (network, HTTP, the reply): no cache
        _give_up(policy, f"cannot pull {entry.name[:12]}: {_reason(err)}", warn)
        return False
    finally:
        remove_tree(staging)
    return True


def _push(
    policy: CachePolicy, entry: Path, label: str, warn: Warn, unless_present: bool = False
) -> None:
    registry = _registry(policy, warn)
    if registry is None:
        return
    try:
        if unless_present and _manifest(registry, policy, entry)[1].status_code == 200:
            return
        registry.push(
            target=f"{policy.remote}:{entry.name}",
            files=[f"{entry / name}:{media}" for name, media in MEDIA_TYPES.items()],
            disable_path_validation=True,
            manifest_annotations={LABEL: label},
            quiet=True,
        )
    except Exception as err:  # whatever failed (network, HTTP, refused): the build is done
        _give_up(policy, f"cannot push {label}: {_reason(err)}", warn)


def _manifest(registry: Any, policy: CachePolicy, entry: Path) -> tuple[Any, Any]:
    """The registry's container for `entry` and its reply to a GET of the manifest."""
    container = registry.get_container(f"{policy.remote}:{entry.name}")
    registry.auth.load_configs(container)
    reply = registry.do_request(
        f"{registry.prefix}://{container.manifest_url()}",
        "GET",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    return container, reply


def _registry(policy: CachePolicy, warn: Warn) -> Any:
    """oras' registry client, or None once the remote failed in this run. Credentials: the
    docker config.json (as oras reads it) or SERPENT_CACHE_USER/SERPENT_CACHE_PASSWORD."""
    if _marker(policy).exists():
        return None
    try:
        import oras.provider
    except ImportError:
        _give_up(policy, "the oras client is not installed (pip install -e .)", warn)
        return None
    logging.getLogger("oras").setLevel(logging.CRITICAL)  # it logs registry replies
    registry = oras.provider.Registry(insecure=policy.insecure)
    # A timeout on every request, and one try each: oras' own retry loop sleeps for minutes
    # on an unreachable registry, where a cache should just give way to building.
    registry.session.request = partial(registry.session.request, timeout=TIMEOUTS)
    registry.do_request = partial(oras.provider.Registry.do_request.__wrapped__, registry)
    user, password = os.environ.get("SERPENT_CACHE_USER"), os.environ.get("SERPENT_CACHE_PASSWORD")
    if user and password:
        registry.auth.set_basic_auth(user, password)
    return registry


def _marker(policy: CachePolicy) -> Path:
    return policy.local / f".remote-failed-{policy.run}"


def _give_up(policy: CachePolicy, reason: str, warn: Warn) -> None:
    """The remote's first failure in a run is reported; the rest of the run goes on without
    it. doit's worker processes share the run's marker file, so they report it once."""
    _sweep(policy.local, ".remote-failed-*")
    try:
        policy.local.mkdir(parents=True, exist_ok=True)
        _marker(policy).open("x").close()
    except FileExistsError:
        return
    except OSError:
        pass  # no marker: reported again later, but reported
    warn(f"cache remote {policy.remote}: {reason}; this run goes on without it")


def _reason(err: BaseException) -> str:
    """The gist of a client error (requests nests the OS error deep in its text)."""
    text = str(err) or type(err).__name__
    found = re.search(r"\[Errno -?\d+\][^'\")]*|timed out[^'\")]*", text)
    return found.group(0).strip() if found else text.splitlines()[0][:200]


def _sweep(directory: Path, pattern: str) -> None:
    """Remove what earlier runs left behind (older than a day: a live run's is younger)."""
    for path in directory.glob(pattern):
        with suppress(OSError, BootstrapError):
            if time.time() - path.lstat().st_mtime > STALE:
                remove_tree(path)
