"""The agent package: what UpdateContainerAgent ships, and how a version is named.

A Dockyard version is `<__version__>+<tree hash>` (plus `.<suffix>` when the server
is started with DOCKYARD_VERSION_SUFFIX): the tree hash is a SHA-256 over the
`dockyard` package's files (paths and contents, `__pycache__` left out), so a changed
server is a newer version even when `__version__` stays. The server packs its own
package directory into a deterministic zip (sorted entries, fixed timestamps) with a
stamp file, `dockyard/AGENT_VERSION`, naming the version; an agent started from such an
unpacked copy reports the stamp, an agent started from a source tree or wheel computes
the hash. Server side: api/agent_package.py; agent side: agent/update.py.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

import dockyard

STAMP = "AGENT_VERSION"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
SUFFIX_RE = re.compile(r"^[A-Za-z0-9]+(\.[A-Za-z0-9]+)*$")
VERSION_RE = re.compile(r"^[0-9A-Za-z.+_-]{1,128}$")


class PackageError(ValueError):
    """A package that cannot be installed (bad zip, wrong content, wrong version)."""


def package_dir() -> Path:
    """The directory the running `dockyard` package was imported from."""
    return Path(dockyard.__file__).resolve().parent


def package_files(root: Path) -> list[Path]:
    """The files a package consists of, sorted by relative path (no byte-code, no stamp)."""
    files = [
        path
        for path in root.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.relative_to(root).parts
        and path.suffix not in {".pyc", ".pyo"}
        and path.relative_to(root).as_posix() != STAMP
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def tree_hash(root: Path) -> str:
    """SHA-256 over every file's relative path and content (the `agentHash`)."""
    digest = hashlib.sha256()
    for path in package_files(root):
        relative = path.relative_to(root).as_posix().encode()
        content = path.read_bytes()
        digest.update(len(relative).to_bytes(4, "big") + relative)
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def version_for(tree: str, suffix: str = "") -> str:
    if suffix and not SUFFIX_RE.match(suffix):
        raise ValueError(
            f"DOCKYARD_VERSION_SUFFIX must be letters and digits separated by dots: {suffix!r}"
        )
    return f"{dockyard.__version__}+{tree[:12]}" + (f".{suffix}" if suffix else "")


def installed_version(root: Path | None = None) -> tuple[str, str]:
    """(agentVersion, agentHash) of the package at `root` (default: the running one):
    the stamp when the package was installed by an update, else computed."""
    root = root or package_dir()
    tree = tree_hash(root)
    stamp = root / STAMP
    if stamp.is_file():
        return stamp.read_text().strip(), tree[:12]
    return version_for(tree), tree[:12]


def build_zip(root: Path, version: str) -> bytes:
    """The package as a zip: `dockyard/...` files plus the version stamp, byte-for-byte
    the same for the same files and version."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in package_files(root):
            info = zipfile.ZipInfo(f"dockyard/{path.relative_to(root).as_posix()}", ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
        info = zipfile.ZipInfo(f"dockyard/{STAMP}", ZIP_DATE)
        info.external_attr = 0o644 << 16
        archive.writestr(info, version + "\n")
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unpack(data: bytes, target: Path, *, version: str, agent_hash: str) -> None:
    """Unpack a package zip into `target` (which must not exist; it holds `dockyard/`),
    checking entry names, the stamp and the tree hash of what was written."""
    if not VERSION_RE.match(version):
        raise PackageError(f"invalid version {version!r}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise PackageError(f"the package is not a zip file: {error}") from None
    target.mkdir(parents=True)
    with archive:
        for name in archive.namelist():
            parts = Path(name).parts
            if not parts or parts[0] != "dockyard" or ".." in parts or Path(name).is_absolute():
                raise PackageError(f"unexpected entry {name!r} in the package")
        try:
            archive.extractall(target)
        except (zipfile.BadZipFile, OSError) as error:
            raise PackageError(f"cannot unpack the package: {error}") from None
    root = target / "dockyard"
    stamp = root / STAMP
    if not stamp.is_file() or stamp.read_text().strip() != version:
        raise PackageError("the package's version stamp does not match the requested version")
    actual = tree_hash(root)[:12]
    if actual != agent_hash:
        raise PackageError(f"hash mismatch: the package holds {actual}, expected {agent_hash}")
