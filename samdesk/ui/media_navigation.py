"""Media navigation: which image or video frame is on the canvas, and getting its pixels there.

Next/Previous image, frame steps and jumps on a video, the timeline under the canvas, undo/redo
that shows the frame it changed, and the display decoding (``ImageLoader``, off the GUI thread).
The session (``controller.navigation``) decides what is on screen; this part shows it.

Frames come quickly when the user moves through a video: the neighbours of the frame on screen
are decoded ahead (the next two, the one before, and further back a seek's worth kept in the
readers' cache), and a long-GOP video gets low-resolution previews built in the background
(``frame_proxy``): a frame not decoded yet shows its preview at once, and while the user drags
the timeline only previews are shown; the full frame follows when the cursor stops.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from samdesk.document import Change, Document, DocumentEvent, MediaItem
from samdesk.document.media_files import media_present
from samdesk.session import AnnotationController
from samdesk.session.frame_numbers import frame_number
from samdesk.ui.canvas.view import CanvasView
from samdesk.ui.frame_proxy import FrameProxy
from samdesk.ui.image_loader import ImageLoader
from samdesk.ui.panels.frame_navigator import FrameNavigator

LOCATE_HINT = "File ▸ Locate missing media… finds it"
DECODE_AHEAD = (1, 2, -1)  # frames decoded ahead for display, relative to the one on screen
BACK_MARGIN = 24  # stepping back: keep this many frames behind the cursor decoded
MAX_PROXIES = 2  # videos whose previews are kept


class MediaNavigation(QObject):
    media_shown = Signal(int)  # media id, once its item is on screen (the picture may follow)
    frame_shown = Signal(int, bool)  # a video frame's picture is on the canvas: frame, full resolution
    message = Signal(str, int)  # status bar text, milliseconds
    error = Signal(str, str)  # title, message

    def __init__(self, document: Document, controller: AnnotationController, canvas: CanvasView) -> None:
        super().__init__(canvas)
        self.document = document
        self.controller = controller
        self.canvas = canvas
        self.current_image: QImage | None = None
        self.missing = False  # the media on screen is not on disk: a stand-in shows instead
        # The frame navigator sits under the canvas, shown only while a video is on screen.
        self.navigator = FrameNavigator()
        self.navigator.setVisible(False)
        self.navigator.frame_requested.connect(self.show_frame)
        self.navigator.scrubbing.connect(self.set_scrubbing)
        self.loader = ImageLoader(self)
        self.proxies: dict[str, FrameProxy] = {}  # video path -> its previews, newest last
        self.showing_preview = False  # the canvas shows a frame's preview, its full picture follows
        self._scrubbing = False
        self._last_frame = -1  # the frame shown before the one on screen
        self.loader.loaded.connect(self._image_loaded)
        self.loader.failed.connect(self._image_failed)
        canvas.input_gate = self.input_refusal
        controller.frame_changed.append(self._frame_changed)
        controller.selection_changed.append(self._hint_missing_frame_mask)
        document.events.subscribe_batch(self._document_changed)

    # --- images ----------------------------------------------------------------------------
    def show_media(self, media_id: int) -> None:
        try:
            item = self.document.project.media_item(media_id)
        except KeyError:
            return
        self.controller.set_media(media_id)
        self.current_image = None
        self.missing = not media_present(item.path)
        video = self.controller.is_video
        self.navigator.setVisible(video)
        if video:
            self.navigator.set_video(item.frame_count)
            self.navigator.set_frame(self.controller.frame)
            self.navigator.set_marked(self.controller.annotated_frames())
        if self.missing:
            self.navigator.set_decoding(False)
            where = Path(item.path).parent
            self.canvas.set_stand_in(
                item.width, item.height, f"{item.name} is missing\n(it was in {where})\n\n{LOCATE_HINT}"
            )
        elif video:
            self._proxy(item.path)
            self._load_frame(item)
        else:
            self.loader.load(media_id, item.path)
            self.navigator.set_decoding(False)
        self._decode_neighbours(media_id)
        self.media_shown.emit(media_id)

    def _decode_neighbours(self, media_id: int) -> None:
        neighbours = self.controller.display_neighbours(media_id)
        # Neighbouring videos are not decoded ahead: opening one costs a container scan.
        self.loader.prefetch([m.path for m in neighbours if m.frame_count == 1 and m.kind != "video"])

    def step_media(self, step: int) -> None:
        target = self.controller.neighbour_id(step)
        if target is not None:
            self.show_media(target)

    def _image_loaded(self, media_id: int, image: QImage) -> None:
        if media_id != self.controller.media_id:
            return
        self.current_image = image
        self.showing_preview = False
        # Same-sized frames of a video keep the user's zoom and pan.
        self.canvas.set_image(image, keep_view=self.controller.is_video)
        self.navigator.set_decoding(self.loader.busy)
        if self.controller.is_video:
            self.frame_shown.emit(self.controller.frame, True)

    def _image_failed(self, media_id: int, message: str) -> None:
        self.navigator.set_decoding(False)
        item = self.controller.media
        if media_id != self.controller.media_id or item is None:
            return
        # Never the previous picture under this media's masks: a stand-in of its size.
        self.canvas.set_stand_in(item.width, item.height, f"{item.name} cannot be shown:\n{message}")
        self.error.emit("Cannot show frame" if self.controller.is_video else "Cannot show image", message)

    # --- video frames ------------------------------------------------------------------------
    def show_frame(self, frame: int) -> None:
        """Show ``frame`` of the video on screen (clamped to its range)."""
        self.controller.set_frame(frame)  # fires _frame_changed when it moved

    def show_last_frame(self) -> None:
        media = self.controller.media
        if media is not None:
            self.show_frame(media.frame_count - 1)

    def step_frame(self, step: int) -> None:
        if self.controller.is_video:
            self.show_frame(self.controller.frame + step)

    def step_marked(self, step: int) -> None:
        """Jump to the next (step > 0) or previous annotated frame."""
        frame = self.controller.navigation.marked_frame(step)
        if frame is not None:
            self.show_frame(frame)

    def _frame_changed(self) -> None:
        item = self.controller.media
        if item is None:
            return
        self.navigator.set_frame(self.controller.frame)
        # Masks follow the frame at once (the layer listens too); the picture follows when
        # decoded (the old one stays on screen meanwhile, with the "decoding…" hint).
        self._load_frame(item)
        self._hint_missing_frame_mask()

    def _load_frame(self, item: MediaItem) -> None:
        if self.missing:
            return
        frame, previous = self.controller.frame, self._last_frame
        self._last_frame = frame
        # A jump (not a step, whose frame decodes in milliseconds) to a frame not decoded yet
        # shows its preview at once; while dragging the timeline, only previews.
        # (Even a frame the readers hold may wait behind a seek the decoding thread is making.)
        jump = self._scrubbing or abs(frame - previous) > 2
        ready = self.loader.is_cached(item.path, frame)
        if jump and not ready and self._show_preview(item, frame) and self._scrubbing:
            self.loader.drop_wanted()
            self.navigator.set_decoding(True)
            return
        self.loader.load(item.id, item.path, frame)
        # The next frames decode in a few ms right after this one (the decoder is there), the
        # previous one is usually in the readers' cache; when the user steps back, the seek to
        # the frames further back is made now, in the background, rather than when they get there.
        ahead = [frame + step for step in DECODE_AHEAD if 0 <= frame + step < item.frame_count]
        self.loader.prefetch_frames(item.path, ahead)
        if previous == frame + 1 and frame - BACK_MARGIN >= 0:  # stepping back
            self.loader.warm_frames(item.path, [frame - BACK_MARGIN])
        self.navigator.set_decoding(self.loader.busy)

    def set_scrubbing(self, active: bool) -> None:
        """The user drags the timeline (True) or has let go (False: the full frame is loaded)."""
        self._scrubbing = active
        item = self.controller.media
        if not active and item is not None and self.controller.is_video and self.showing_preview:
            self._load_frame(item)

    def _show_preview(self, item: MediaItem, frame: int) -> bool:
        """Put ``frame``'s low-resolution preview on the canvas, if it has one yet."""
        proxy = self.proxies.get(item.path)
        data = proxy.preview(frame) if proxy is not None else None
        if data is None:
            return False
        image = QImage.fromData(data, "JPG")
        if image.isNull():
            return False
        self.canvas.set_image(image, keep_view=True, size=QSize(item.width, item.height))
        self.showing_preview = True
        self.frame_shown.emit(frame, False)
        return True

    def _proxy(self, path: str) -> FrameProxy:
        """The previews of the video at ``path`` (their background pass starts on first use)."""
        proxy = self.proxies.pop(path, None) or FrameProxy(path).start()
        self.proxies[path] = proxy  # newest last
        while len(self.proxies) > MAX_PROXIES:
            oldest = next(iter(self.proxies))
            self.proxies.pop(oldest).close(timeout=0)
        return proxy

    def input_refusal(self) -> str | None:
        """Refuse canvas gestures while the frame they would annotate is not on screen yet."""
        if self.missing and self.controller.media is not None:
            return f"{self.controller.media.name} is missing: {LOCATE_HINT}"
        if self.controller.is_video and (self.loader.busy or self.showing_preview):
            return f"Frame {frame_number(self.controller.frame)} is still decoding: click again when it shows"
        return None

    def _hint_missing_frame_mask(self) -> None:
        """Selecting a video object that has no mask on this frame: say how to give it one
        (R starts a pending mask for that object, rather than a new object)."""
        c = self.controller
        if not c.is_video or c.selected_object is None:
            return
        with contextlib.suppress(KeyError):
            obj = self.document.project.object(c.selected_object)
            if c.frame not in obj.frames:
                name = obj.name or f"#{obj.id}"
                here = frame_number(c.frame)
                hint = f"Object {name} has no mask on frame {here}: press R, then click to add one"
                self.message.emit(hint, 8000)

    def _document_changed(self, events: Sequence[DocumentEvent]) -> None:
        """Decode and encode ahead the images that arrive next to the one on screen (files
        still opening), and keep the timeline ticks in step with the masks of the video."""
        here = self.controller.media_id
        if here is None:
            return
        added = {e.media_id for e in events if e.change == Change.MEDIA_ADDED}
        if added and any(m.id in added for m in self.controller.display_neighbours(here)):
            self._decode_neighbours(here)
            self.controller.prefetch()
        if self.navigator.isHidden():  # no video on screen
            return
        marks = (Change.OBJECT_ADDED, Change.OBJECT_REMOVED, Change.MASK_CHANGED)
        if any(e.change == Change.RESET or (e.media_id == here and e.change in marks) for e in events):
            self.navigator.set_marked(self.controller.annotated_frames())

    # --- undo that shows what it changed -----------------------------------------------------
    def undo(self) -> None:
        self._jump_to_changed_frame(self.controller.undo)

    def redo(self) -> None:
        self._jump_to_changed_frame(self.controller.redo)

    def _jump_to_changed_frame(self, action: Callable[[], None]) -> None:
        """Run undo/redo; when it changed masks only on other frames of this video, go to the
        first of them, so the user sees what was taken back instead of nothing happening."""
        if not self.controller.is_video:
            action()
            return
        before = self._frame_masks()
        action()
        after = self._frame_masks()
        changed = {key[1] for key in before.keys() | after.keys() if before.get(key) is not after.get(key)}
        if changed and self.controller.frame not in changed:
            self.show_frame(min(changed))

    def _frame_masks(self) -> dict[tuple[int, int], object]:
        """(object id, frame) -> that frame's annotation, for the video on screen. Commands
        replace annotations rather than edit them in place, so identity tells what changed."""
        media_id = self.controller.media_id
        objects = self.document.project.objects_of(media_id) if media_id is not None else []
        return {(o.id, f): a for o in objects for f, a in o.frames.items()}

    # --- waiting -----------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 10.0) -> None:
        """For tests and benchmarks: wait for the image decode in flight."""
        deadline = time.monotonic() + timeout
        while (
            (self.current_image is None or self.loader.busy)
            and self.controller.media_id is not None
            and time.monotonic() < deadline
        ):
            QApplication.processEvents()
            time.sleep(0.005)

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()
        self.loader.wait()
