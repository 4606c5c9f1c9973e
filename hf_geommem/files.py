"""Output that is never half-written: a folder or a file appears complete or not at all
(written beside its target, then renamed)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

__all__ = ["atomic_output_dir", "check_output_dir", "check_output_path", "write_text_atomic",
           "replace_between_markers", "share_files", "clean_stale_temps", "push_folder"]

# what a temp name beside its target looks like: ``.NAME.tmp-PID-HEX`` (folders and files)
_TMP = ".{name}.tmp-"


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file beside it and a rename."""
    path = Path(path)
    tmp = path.with_name(_temp_name(path.name))
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def replace_between_markers(path: str | os.PathLike, begin: str, end: str, body: str) -> Path:
    """Replace the text between the lines ``begin`` and ``end`` of ``path`` (e.g. a README's
    generated section) by ``body``, atomically.

    Raises:
        ValueError: ``path`` lacks one of the markers.
    """
    path = Path(path)
    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{str(path)!r} lacks the {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return write_text_atomic(path, f"{head}{begin}\n{body}\n{end}{tail}")


class atomic_output_dir:
    """Context manager yielding a temp folder beside ``folder`` that becomes ``folder`` on success.

    Raises ``FileExistsError`` up front if ``folder`` exists and ``overwrite`` is false; on any
    error the temp folder is removed and an existing ``folder`` is left untouched."""

    def __init__(self, folder: str | os.PathLike, overwrite: bool = False):
        self.folder = Path(folder)
        self.overwrite = overwrite
        check_output_dir(self.folder, overwrite)
        self.tmp = self.folder.parent / _temp_name(self.folder.name)

    def __enter__(self) -> Path:
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            clean_stale_temps(self.folder)
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


def _temp_name(name: str) -> str:
    return f"{_TMP.format(name=name)}{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Remove the temp folders and files beside ``target`` that a killed writer left behind
    (``.NAME.tmp-PID-...`` whose process is gone, or older names without a pid): a SIGKILL
    during a save cannot clean up after itself, so the next save does. A live writer's temp
    (another rank of the same launch) is kept. Returns what was removed."""
    target = Path(target)
    prefix = _TMP.format(name=target.name)
    removed = []
    if not target.parent.is_dir():
        return removed
    for p in target.parent.glob(f"{prefix}*"):
        pid = p.name[len(prefix):].split("-")[0]
        if pid.isdigit() and len(p.name[len(prefix):].split("-")) == 2 and \
                (int(pid) == os.getpid() or _pid_alive(int(pid))):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def share_files(folder: str | os.PathLike) -> None:
    """Give the files under ``folder`` the permissions the umask allows (safetensors writes
    weights with mode 0600, so another user of a shared run folder could read the card but not
    the model)."""
    mask = os.umask(0)
    os.umask(mask)
    mode = 0o666 & ~mask
    for p in Path(folder).rglob("*"):
        if p.is_file() and not p.is_symlink() and (p.stat().st_mode & 0o777) != mode:
            try:
                os.chmod(p, mode)
            except PermissionError:  # a file of another user: leave it
                pass


def check_output_path(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Refuse an empty path, an existing regular file and a parent path that runs through a
    file: the checks for a folder that a command writes *into* (it may exist)."""
    if not str(folder).strip():
        raise ValueError(f"{what} must be a folder path, got {str(folder)!r}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{what} {str(folder)!r} is a file, not a folder: pass a folder "
                              f"path")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot create {str(folder)!r}: {str(parent)!r} is "
                                         f"a file")
            break
    return folder


def check_output_dir(folder: str | os.PathLike, overwrite: bool) -> None:
    """Raise ``FileExistsError`` if ``folder`` exists (and is not empty) without ``overwrite``;
    refuse an empty path or ``.``, an existing regular file (``overwrite`` replaces folders
    only) and a parent path that runs through a file."""
    if str(folder).strip() == ".":
        raise ValueError(f"output folder must be a folder path, got {str(folder)!r}")
    folder = check_output_path(folder)
    if folder.exists() and not overwrite and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(
            f"output folder {str(folder)!r} already exists; pass overwrite=True (--overwrite) "
            f"to replace it"
        )


# ---------------------------------------------------------------------- build


def push_folder(folder: str | os.PathLike, repo_id: str, repo_type: str, private: bool = False,
                token: str | None = None, commit_message: str | None = None,
                ignore_patterns: list[str] | None = None) -> str:
    """The one folder upload to the Hub (tasks, runs): create repo ``repo_id`` of ``repo_type``
    if needed and upload ``folder`` to it in one commit; returns the repo URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type,
                      ignore_patterns=ignore_patterns,
                      commit_message=commit_message or f"Upload hf_geommem {repo_type}")
    return str(url)
