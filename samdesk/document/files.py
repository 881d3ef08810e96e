"""Creating files the way an ordinary save does: never through someone else's file, and with the
permissions the user's umask asks for.

``tempfile.mkstemp`` would force mode 0600, so a project or dataset saved through it could not be
read by the user's group or other tools; :func:`write_new_file` creates with 0666 minus the umask.
Project saves (``persistence``) and dataset exports (``samdesk.io.output``) both write here.
"""

from __future__ import annotations

import os
from pathlib import Path

# What a samdesk project file's name ends with (persistence reads and writes them; the CLI, the GUI's
# file dialogs and the desktop MIME type recognise them by it).
PROJECT_SUFFIX = ".samdesk.json"
# Suffix of every temporary file samdesk writes beside its target before renaming it into place.
TEMP_SUFFIX = ".samdesk-tmp"


def write_new_file(path: Path, data: bytes, *, durable: bool) -> None:
    """Create ``path``, which must not exist (``O_EXCL``: never follow or reuse another file),
    holding ``data``; ``durable`` flushes it to the disk before returning. On failure the file
    is removed again."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
