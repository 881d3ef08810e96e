"""Finding media that moved: a project's missing files, looked for in a folder the user names.

A loaded project reports media that are not where it says (``LoadedProject.missing_media``) rather
than dropping them; :func:`find_media_in_folder` finds them again by name and content hash, and
:func:`relocate_command` points them there in one undoable step.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from model_runtime.image_sequence import is_sequence
from model_runtime.media import MediaError
from samdesk.document.commands import Batch, EditMedia
from samdesk.document.model import MediaItem, file_content_hash


def find_media_in_folder(
    missing: Iterable[MediaItem], folder: str | Path, *, by_content: bool = True, max_files: int = 100_000
) -> dict[int, str]:
    """Search ``folder`` (recursively) for moved media; returns media id -> found path.

    A file with the same name is taken when its content hash matches (or the item has none).
    With ``by_content``, files of the same extension whose hash matches are found too (a
    renamed file); only files of those extensions are hashed, so the cost stays bounded.
    At most ``max_files`` files are examined so a huge folder cannot hang the caller. A video
    that is a folder of frames is found by its folder's name and content hash.
    """
    wanted = list(missing)
    names = {item.name for item in wanted}
    found: dict[int, str] = {}
    by_name: dict[str, list[Path]] = {}
    by_suffix: dict[str, list[Path]] = {}
    for count, candidate in enumerate(Path(folder).rglob("*")):
        if count >= max_files:
            break
        if candidate.is_file():
            by_name.setdefault(candidate.name, []).append(candidate)
            by_suffix.setdefault(candidate.suffix.lower(), []).append(candidate)
        elif candidate.name in names and is_sequence(candidate):
            by_name.setdefault(candidate.name, []).append(candidate)
    hashes: dict[Path, str] = {}

    def digest(candidate: Path) -> str:
        if candidate not in hashes:
            try:
                hashes[candidate] = file_content_hash(candidate)
            except (OSError, MediaError):
                hashes[candidate] = ""
        return hashes[candidate]

    for item in wanted:
        for candidate in by_name.get(item.name, []):
            if not item.content_hash or digest(candidate) == item.content_hash:
                found[item.id] = str(candidate.absolute())
                break
    if by_content:
        for item in wanted:
            if item.id in found or not item.content_hash:
                continue
            for candidate in by_suffix.get(Path(item.path).suffix.lower(), []):
                if digest(candidate) == item.content_hash:
                    found[item.id] = str(candidate.absolute())
                    break
    return found


def relocate_command(found: dict[int, str]) -> Batch:
    """One undoable step that points each found media item at its new path."""
    return Batch([EditMedia(media_id, path=path) for media_id, path in found.items()], text="relocate media")
