"""Getting checkpoint files onto the machine: resumable, verified, atomic, and only when asked.

Nothing in this module runs on import. Files live in the models folder: the ``models_dir``
argument, else ``$SAMDESK_MODELS_DIR``, else ``platformdirs.user_cache_dir("samdesk")/models``.

A download streams into ``<file>.part`` (resumed with an HTTP Range request when the server
supports it), hashes as it goes, and is renamed to its final name only after the sha256
matches; so the final name never holds a half or wrong file.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from model_runtime import registry
from model_runtime.checkpoints import CheckpointError
from model_runtime.loader import check_model_file
from model_runtime.registry import CheckpointSpec

ENV_MODELS_DIR = "SAMDESK_MODELS_DIR"
PART_SUFFIX = ".part"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")

VERIFIED = "verified"
UNVERIFIED = "unverified"  # no official digest recorded: the file was not checked
CUSTOM = "custom"  # a user file that is not an official checkpoint

ProgressCallback = Callable[[int, int | None], None]
"""Called with (bytes done, total bytes or None when the server does not say)."""

Cancel = threading.Event | Callable[[], bool] | None


class DownloadError(Exception):
    """A download or install that failed; the message is one clear sentence for the user."""


class OfflineError(DownloadError):
    """The server could not be reached at all."""


class ChecksumError(DownloadError):
    """The file's sha256 is not the official one; the bad file has been removed."""


class DownloadCancelled(DownloadError):
    """The user cancelled; the partial file is kept so the next attempt resumes."""


class ModelNotInstalledError(CheckpointError):
    """A registry name whose file is not in the models folder."""


@dataclass(frozen=True)
class InstalledModel:
    """A checkpoint file in the models folder. ``verification``: verified / unverified / custom."""

    name: str
    path: Path
    family: str | None
    verification: str


def models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The models folder (not created here)."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("samdesk")) / "models"


def path(name: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """Where the registry model ``name`` lives (whether or not it is there yet)."""
    return models_dir(directory) / registry.get(name).filename


def is_installed(name: str, directory: str | os.PathLike[str] | None = None) -> bool:
    return path(name, directory).is_file()


def installed(directory: str | os.PathLike[str] | None = None) -> list[InstalledModel]:
    """Every checkpoint in the models folder: registry files first, then the user's own files.

    Registry files are reported by name only (no hashing here: a multi-GB sha256 is not a
    listing's job); they were verified when downloaded or added.
    """
    folder = models_dir(directory)
    if not folder.is_dir():
        return []
    found: list[InstalledModel] = []
    seen: set[str] = set()
    for spec in registry.REGISTRY:
        file = folder / spec.filename
        if file.is_file():
            status = VERIFIED if spec.verifiable else UNVERIFIED
            found.append(InstalledModel(spec.name, file, spec.family, status))
            seen.add(spec.filename)
    for file in sorted(folder.iterdir()):
        if file.name in seen or not file.is_file() or file.suffix not in CHECKPOINT_SUFFIXES:
            continue
        found.append(InstalledModel(file.stem, file, None, CUSTOM))
    return found


def resolve(name_or_path: str | os.PathLike[str], directory: str | os.PathLike[str] | None = None) -> Path:
    """An existing checkpoint file for a path, a registry name, or a custom model's name.

    A registry name that is not installed raises ModelNotInstalledError telling the user how to
    get it; anything else unknown raises CheckpointError.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    text = str(name_or_path)
    spec = registry.find(text)
    if spec is not None:
        file = models_dir(directory) / spec.filename
        if file.is_file():
            return file
        if spec.downloadable:
            how = f"run `samdesk models download {spec.name}`"
        else:
            how = f"download {spec.filename} by hand and run `samdesk models add {spec.filename}`"
        raise ModelNotInstalledError(text, f"model {spec.name} is not installed: {how}", spec.family)
    for model in installed(directory):
        if model.name == text or model.path.name == text:
            return model.path
    raise CheckpointError(
        text, "no such file, and not a known model name (see `samdesk models list`)"
    )


def download(
    model: str | CheckpointSpec,
    directory: str | os.PathLike[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: Cancel = None,
    retries: int = 2,
    timeout: float = 30.0,
    chunk_size: int = 1 << 20,
) -> InstalledModel:
    """Download a registry model into the models folder and verify it; return where it is.

    An already installed file is returned as is. A connection lost midway is resumed up to
    ``retries`` times; after that the ``.part`` file stays so the next call resumes. Raises
    OfflineError, ChecksumError, DownloadCancelled or DownloadError.
    """
    spec = registry.get(model) if isinstance(model, str) else model
    if spec.url is None:
        raise DownloadError(
            f"{spec.name} cannot be downloaded automatically ({spec.licence}, gated): download "
            f"{spec.filename} by hand and run `samdesk models add {spec.filename}`"
        )
    folder = models_dir(directory)
    final = folder / spec.filename
    status = VERIFIED if spec.verifiable else UNVERIFIED
    if final.is_file():
        return InstalledModel(spec.name, final, spec.family, status)
    folder.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + PART_SUFFIX)
    if spec.size is not None:
        needed = spec.size - _size(part)
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise DownloadError(
                f"not enough disk space in {folder}: {spec.filename} needs {needed / 1e6:.0f} MB more, "
                f"{free / 1e6:.0f} MB free"
            )
    is_cancelled = _cancel_check(cancel)
    with _exclusive(final):
        if final.is_file():  # another process finished it while we waited for nothing
            return InstalledModel(spec.name, final, spec.family, status)
        attempt = 0
        while True:
            try:
                digest = _fetch_into(spec, part, progress, is_cancelled, timeout, chunk_size)
                break
            except _ConnectionLost as lost:
                attempt += 1
                if attempt > retries:
                    raise DownloadError(
                        f"connection to {_host(spec.url)} lost after {lost.done} bytes: run the "
                        f"download again to resume ({_size(part)} bytes kept in {part})"
                    ) from lost.__cause__
        if spec.sha256 is not None and digest != spec.sha256:
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"{spec.filename} from {spec.url} is corrupt or not the official file: sha256 "
                f"{digest} but {spec.sha256} was expected; the download was deleted"
            )
        os.replace(part, final)
    return InstalledModel(spec.name, final, spec.family, status)


def add(
    file: str | os.PathLike[str],
    directory: str | os.PathLike[str] | None = None,
    *,
    link: bool = False,
) -> InstalledModel:
    """Install a checkpoint the user already has (e.g. downloaded by hand) into the models folder.

    The file must load exactly as ``load_model`` would load it (safely, strictly, with finite
    weights) before anything is copied: a broken file is refused now, not when first used.
    If its file name or digest is an official one, the sha256 must match the registry. ``link``
    makes a symbolic link instead of a copy (saves disk; the original must then stay where it is).
    """
    source = Path(file).expanduser()
    family = check_model_file(source)  # CheckpointError names the file and the problem
    digest = sha256_file(source)
    spec = registry.by_sha256(digest)
    named = registry.by_filename(source.name)
    if spec is None and named is not None and named.sha256 is not None:
        raise ChecksumError(
            f"{source}: named like the official {named.name} but its sha256 is {digest}, not "
            f"{named.sha256}; rename the file to add it as a custom model"
        )
    spec = spec or named
    if spec is not None and spec.family != family:
        raise CheckpointError(source, f"holds a {family} model but {spec.name} is {spec.family}", family)
    folder = models_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (spec.filename if spec is not None else source.name)
    if spec is not None:
        name = spec.name
        status = VERIFIED if spec.sha256 == digest else UNVERIFIED
    else:
        name, status = source.stem, CUSTOM
    if target.exists() or target.is_symlink():
        if target.resolve() == source.resolve() or sha256_file(target) == digest:
            return InstalledModel(name, target, family, status)
        raise DownloadError(f"{target} already exists with different content; remove it first")
    if link:
        target.symlink_to(source.resolve())
    else:
        tmp = target.with_name(target.name + PART_SUFFIX)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except BaseException:  # a disk filling up, Ctrl+C: leave no half file behind
            tmp.unlink(missing_ok=True)
            raise
    return InstalledModel(name, target, family, status)


def verify(name: str, directory: str | os.PathLike[str] | None = None) -> str:
    """Re-hash an installed registry file: "verified", "unverified" (no digest known), or
    ChecksumError when it does not match."""
    spec = registry.get(name)
    file = resolve(name, directory)
    if spec.sha256 is None:
        return UNVERIFIED
    digest = sha256_file(file)
    if digest != spec.sha256:
        raise ChecksumError(f"{file}: sha256 {digest} but {spec.sha256} was expected")
    return VERIFIED


def sha256_file(file: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Streamed sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


class _ConnectionLost(Exception):
    def __init__(self, done: int):
        super().__init__(done)
        self.done = done


def _cancel_check(cancel: Cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


@contextlib.contextmanager
def _exclusive(final: Path) -> Iterator[None]:
    """Hold an exclusive lock for downloading ``final``: two writers (GUI and CLI, two GUIs)
    appending to one ``.part`` file would corrupt it. The OS drops the lock if we crash, so no
    stale lock can block a later download. The empty lock file is left in place: deleting it
    would let a waiting process lock a file that no longer has a name."""
    lock_path = final.with_name(final.name + ".lock")
    with open(lock_path, "a+b") as handle:
        handle.seek(0)
        try:
            _lock(handle)
        except OSError as exc:
            raise DownloadError(f"{final.name} is already being downloaded by another samdesk") from exc
        try:
            yield
        finally:
            _unlock(handle)


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: BinaryIO) -> None:
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: BinaryIO) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: BinaryIO) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: BinaryIO) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _size(file: Path) -> int:
    return file.stat().st_size if file.exists() else 0


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _offline(url: str) -> OfflineError:
    return OfflineError(
        f"cannot reach {_host(url)}: you seem to be offline; download {url} by hand "
        "and use `samdesk models add FILE`"
    )


def _fetch_into(
    spec: CheckpointSpec,
    part: Path,
    progress: ProgressCallback | None,
    is_cancelled: Callable[[], bool],
    timeout: float,
    chunk_size: int,
) -> str:
    """Bring ``part`` to the complete file; return its sha256. Raises _ConnectionLost when the
    transfer breaks after it started (the caller resumes)."""
    assert spec.url is not None
    digest = hashlib.sha256()
    done = _size(part)
    if spec.size is not None and done > spec.size:
        part.unlink()
        done = 0
    if done:
        # Re-hash what is already there so the final digest covers the whole file.
        with part.open("rb") as handle:
            while chunk := handle.read(chunk_size):
                if is_cancelled():
                    raise DownloadCancelled(f"download of {spec.name} cancelled")
                digest.update(chunk)
    if spec.size is not None and done == spec.size:
        return digest.hexdigest()
    request = urllib.request.Request(spec.url, headers={"User-Agent": "samdesk"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:
            # Our partial file is not a prefix the server recognises: start over.
            part.unlink(missing_ok=True)
            raise _ConnectionLost(0) from exc
        raise DownloadError(f"{spec.url}: the server answered HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _offline(spec.url) from exc
    except (TimeoutError, ConnectionError, socket.gaierror) as exc:
        raise _offline(spec.url) from exc
    with response:
        status = response.status
        if done and status != 206:
            # The server ignored the Range header and sends the whole file: restart cleanly.
            done = 0
            digest = hashlib.sha256()
        total = _total_size(response, done, spec)
        if spec.size is not None and total is not None and total != spec.size:
            raise DownloadError(
                f"{spec.url}: the server offers {total} bytes but {spec.filename} is {spec.size} bytes"
            )
        if progress is not None:
            progress(done, total)
        with part.open("ab" if done else "wb") as out:
            while True:
                if is_cancelled():
                    raise DownloadCancelled(f"download of {spec.name} cancelled; run it again to resume")
                try:
                    chunk = response.read(chunk_size)
                except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError) as exc:
                    out.flush()
                    raise _ConnectionLost(done) from exc
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            out.flush()
            os.fsync(out.fileno())
    if total is not None and done < total:
        raise _ConnectionLost(done)
    return digest.hexdigest()


def _total_size(response: http.client.HTTPResponse, done: int, spec: CheckpointSpec) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if response.status == 206 and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1].strip()
        if tail.isdigit():
            return int(tail)
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit():
        return done + int(length) if response.status == 206 else int(length)
    return spec.size
