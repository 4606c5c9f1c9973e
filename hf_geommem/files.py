"""Output that is never half-written: a folder or a file appears complete or not at all
(written beside its target, then renamed)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

__all__ = ["atomic_output_dir", "check_output_dir", "write_text_atomic"]


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file beside it and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class atomic_output_dir:
    """Context manager yielding a temp folder beside ``folder`` that becomes ``folder`` on success.

    Raises ``FileExistsError`` up front if ``folder`` exists and ``overwrite`` is false; on any
    error the temp folder is removed and an existing ``folder`` is left untouched."""

    def __init__(self, folder: str | os.PathLike, overwrite: bool = False):
        self.folder = Path(folder)
        self.overwrite = overwrite
        check_output_dir(self.folder, overwrite)
        self.tmp = self.folder.parent / f".{self.folder.name}.tmp-{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> Path:
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir()
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot create the output folder "
                                       f"{str(self.folder)!r}: {exc.strerror}") from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        old = None
        try:
            if self.folder.exists():
                check_output_dir(self.folder, self.overwrite)
                old = self.folder.parent / f".{self.folder.name}.old-{uuid.uuid4().hex[:8]}"
                os.replace(self.folder, old)
            try:
                os.replace(self.tmp, self.folder)
            except OSError as err:
                if not self.folder.exists():
                    raise
                # another process (e.g. a rank of the same launch) finished the folder first
                raise FileExistsError(f"output folder {str(self.folder)!r} appeared while it "
                                      f"was being written") from err
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if old is not None and not self.folder.exists():
                os.replace(old, self.folder)  # put the previous folder back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False


def check_output_dir(folder: str | os.PathLike, overwrite: bool) -> None:
    """Raise ``FileExistsError`` if ``folder`` exists (and is not empty) without ``overwrite``;
    refuse an empty path, an existing regular file (``overwrite`` replaces folders only) and a
    parent path that runs through a file."""
    if str(folder).strip() in ("", "."):
        raise ValueError(f"output folder must be a folder path, got {str(folder)!r}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"output path {str(folder)!r} is a file, not a folder; "
                              f"--overwrite replaces folders only")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot create {str(folder)!r}: {str(parent)!r} is "
                                         f"a file")
            break
    if folder.exists() and not overwrite and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(
            f"output folder {str(folder)!r} already exists; pass overwrite=True (--overwrite) "
            f"to replace it"
        )


# ---------------------------------------------------------------------- build
