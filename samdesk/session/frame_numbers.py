"""The one frame-number convention: people count a video's frames from 1 ("frame 1 of 200"),
the document, project files and exports from 0 (frame 0 is ``00000.png``).

Every number a person reads (navigator, timeline, status messages, panels) goes through
:func:`frame_number`; everything stored or written keeps the 0-based index.
"""

from __future__ import annotations


def frame_number(index: int) -> int:
    """The number people see for the 0-based frame ``index``."""
    return index + 1


def frame_of(index: int, frame_count: int) -> str:
    """"frame 3 of 200" for ``index`` 2."""
    return f"frame {frame_number(index)} of {frame_count}"
