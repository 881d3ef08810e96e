"""Which image (or video frame) is on screen, and what Next/Previous and prefetching reach."""

from __future__ import annotations

from samdesk.document import Document, MediaItem


class Navigation:
    """The media item and frame on screen. Frames are always 0 for images.

    A video remembers the frame it was left at (by path: ids restart in every project), so
    coming back to it shows that frame rather than its start.
    """

    def __init__(self, document: Document) -> None:
        self.document = document
        self.media_id: int | None = None
        self.frame = 0
        self._last_frame: dict[str, int] = {}

    @property
    def media(self) -> MediaItem | None:
        if self.media_id is None:
            return None
        try:
            return self.document.project.media_item(self.media_id)
        except KeyError:
            return None

    @property
    def is_video(self) -> bool:
        media = self.media
        return media is not None and media.frame_count > 1

    def go_to_media(self, media_id: int | None) -> bool:
        """Show ``media_id`` (None: nothing); returns whether that changed what is on screen."""
        if media_id == self.media_id:
            return False
        if (previous := self.media) is not None and previous.frame_count > 1:
            self._last_frame[previous.path] = self.frame
        self.media_id = media_id
        media = self.media
        last = self._last_frame.get(media.path, 0) if media is not None else 0
        self.frame = min(last, media.frame_count - 1) if media is not None else 0
        return True

    def go_to_frame(self, frame: int) -> bool:
        """Show ``frame`` of the video on screen (clamped to its range); returns whether it moved."""
        media = self.media
        if media is None:
            return False
        frame = max(0, min(media.frame_count - 1, frame))
        if frame == self.frame:
            return False
        self.frame = frame
        return True

    def frames_ahead(self) -> list[int]:
        """Frames of the video on screen to encode, nearest first: this one, then its neighbours."""
        media = self.media
        if media is None:
            return []
        frames = [self.frame, self.frame + 1, self.frame - 1, self.frame + 2]
        return [f for f in frames if 0 <= f < media.frame_count]

    def neighbours(self, media_id: int) -> list[MediaItem]:
        """``media_id`` first, then the next and previous items (prefetch order)."""
        media = self.document.project.media
        index = next((i for i, m in enumerate(media) if m.id == media_id), None)
        if index is None:
            return []
        order = [index, index + 1, index - 1, index + 2]
        return [media[i] for i in order if 0 <= i < len(media)]

    def display_neighbours(self, media_id: int) -> list[MediaItem]:
        """The items around ``media_id`` that Next/Previous would show (not itself)."""
        return [m for m in self.neighbours(media_id) if m.id != media_id]

    def neighbour_id(self, step: int) -> int | None:
        """The item ``step`` places after (or before) the one on screen; the first when none is."""
        media = self.document.project.media
        index = next((i for i, m in enumerate(media) if m.id == self.media_id), None)
        if index is None:
            return media[0].id if media else None
        target = index + step
        return media[target].id if 0 <= target < len(media) else None

    def annotated_frames(self) -> set[int]:
        """Frames of the media on screen where at least one object has a mask (timeline ticks)."""
        if self.media_id is None:
            return set()
        frames: set[int] = set()
        for obj in self.document.project.objects_of(self.media_id):
            frames.update(obj.frames)
        return frames

    def marked_frame(self, step: int) -> int | None:
        """The next (step > 0) or previous annotated frame from the one on screen, if any."""
        here = self.frame
        marked = sorted(self.annotated_frames())
        ahead = [f for f in marked if f > here] if step > 0 else [f for f in reversed(marked) if f < here]
        return ahead[0] if ahead else None
