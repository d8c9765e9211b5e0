"""Which files a source reads: a path or glob under the data folder, never outside it."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from safetynet.connectors.config import SourceConfig
from safetynet.errors import ConfigError, SourceUnavailable

_MAGIC = set("*?[")
# Office lock files ("~$名册.xlsx", ".~lock.名册.xlsx#") sit beside open workbooks.
_LOCK_PREFIXES = ("~$", ".~lock.")


@dataclass(frozen=True)
class SourceFile:
    """A matched file: its path as found and its name relative to the data folder."""

    path: Path
    rel: str


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _static_prefix(pattern: str) -> str:
    """The leading path components of a glob pattern that hold no wildcard."""
    parts: list[str] = []
    for part in Path(pattern).parts:
        if _MAGIC & set(part):
            break
        parts.append(part)
    return os.path.join(*parts) if parts else "."


def resolve_source_files(source: SourceConfig, data_root: Path,
                         allowed_roots: Sequence[Path] | None = None) -> list[SourceFile]:
    """Expand ``location.path`` (sorted glob) into files inside data_root or allowed_roots.

    Raises ConfigError for a path that escapes those folders (symlinks resolved),
    SourceUnavailable for no match, a non-file or a 0-byte file.
    """
    if not source.path:
        raise ConfigError("file source lacks location.path", source=source.name)
    base = Path(os.path.abspath(data_root))
    if not base.is_dir():
        raise SourceUnavailable(f"data folder not found / 数据目录不存在: {base}",
                                source=source.name)
    roots = [base.resolve(), *(Path(r).resolve() for r in allowed_roots or ())]
    pattern = os.path.normpath(os.path.join(base, source.path))
    if not _inside(Path(_static_prefix(pattern)).resolve(), roots):
        raise ConfigError("location.path leaves the data folder / 路径超出数据目录",
                          source=source.name, file=source.path)
    found: list[SourceFile] = []
    for match in glob.glob(pattern, recursive=True):
        if os.path.basename(match).startswith(_LOCK_PREFIXES):
            continue
        path = Path(match)
        if not _inside(path.resolve(), roots):
            raise ConfigError("file resolves outside the data folder / 文件实际位置超出数据目录",
                              source=source.name, file=os.path.relpath(match, base))
        rel = Path(os.path.relpath(match, base)).as_posix()
        if not path.is_file():
            if _MAGIC & set(source.path):
                continue  # a folder matched by a wildcard
            raise SourceUnavailable("not a file / 不是文件", source=source.name, file=rel)
        found.append(SourceFile(path, rel))
    if not found:
        raise SourceUnavailable(f"no file matches '{source.path}' / 找不到文件",
                                source=source.name, file=source.path)
    found.sort(key=lambda f: f.rel)
    for f in found:
        if f.path.stat().st_size == 0:
            raise SourceUnavailable("file is empty / 文件为空", source=source.name, file=f.rel)
    return found
