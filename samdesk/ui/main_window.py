"""The main window: canvas in the middle, image list on the left, objects and categories on the right.

It wires widgets to the :class:`AnnotationController` and the document; it holds no annotation
logic of its own. Every action has a shortcut, and the shortcut overlay (F1 / ?) lists them all.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QImage, QImageReader, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from samdesk.document import (
    AddMedia,
    Batch,
    Change,
    Document,
    DocumentEvent,
    EditMedia,
    MediaItem,
    MediaKind,
    MediaStatus,
)
from samdesk.session import AnnotationController, PredictionService, mask_ops
from samdesk.ui.canvas.layers import AnnotationLayer
from samdesk.ui.canvas.view import CanvasView
from samdesk.ui.dialogs.category_picker import CategoryPicker
from samdesk.ui.dialogs.shortcuts import ShortcutsDialog
from samdesk.ui.image_loader import ImageLoader
from samdesk.ui.panels.categories import CategoriesPanel
from samdesk.ui.panels.frame_navigator import FrameNavigator
from samdesk.ui.panels.media_list import MediaListPanel
from samdesk.ui.panels.objects import ObjectsPanel
from samdesk.ui.qt_compat import install_none_guard
from samdesk.ui.settings import Settings
from samdesk.ui.tools.base import Tool, discover_tools
from samdesk.ui.tracking import Tracker

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
PROJECT_SUFFIX = ".samdesk.json"
FRAME_JUMP = 10  # Shift+Left/Right


def media_suffixes() -> tuple[frozenset[str], frozenset[str]]:
    """(image suffixes, video suffixes) the app opens: model_runtime.media's, the one list the
    decoders and the document share. Imported on demand: it pulls in PyAV (slow to import)."""
    try:
        from model_runtime.media import IMAGE_SUFFIXES as images
        from model_runtime.media import VIDEO_SUFFIXES as videos
    except ImportError:  # a build without the runtime: images only, as Qt decodes them
        return frozenset(IMAGE_SUFFIXES), frozenset()
    return images, videos


def is_project_path(path: Path) -> bool:
    return path.name.endswith(PROJECT_SUFFIX)


def new_media_item(path: Path) -> MediaItem:
    """The document's media item for ``path`` (probed, content-hashed), or a header-only one
    when this build lacks ``samdesk.document.media``."""
    try:
        from samdesk.document.media import media_item_from_path
    except ImportError:
        return image_media_item(path)
    return media_item_from_path(path)


def image_media_item(path: Path) -> MediaItem:
    """A media item for an image file, sized from its header (no pixel decoding)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if not size.isValid():
        raise ValueError(f"{path}: not a readable image ({reader.errorString()})")
    # EXIF rotation by 90° swaps width and height: report the size the user sees.
    if reader.transformation().value & 0x4:  # QImageIOHandler.TransformationRotate90 bit
        size.transpose()
    return MediaItem(0, MediaKind.IMAGE, str(path.resolve()), size.width(), size.height())


class MainWindow(QMainWindow):
    # Tests, benchmarks and screenshot scripts set this: errors go to the status bar and
    # ``last_error`` instead of modal message boxes that would block an unattended run.
    errors_as_status = False
    last_error = ""

    def __init__(
        self,
        settings: Settings | None = None,
        service: PredictionService | None = None,
        settings_path: Path | None = None,
    ) -> None:
        super().__init__()
        install_none_guard(QApplication.instance())
        self.settings = settings or Settings()
        self.settings_path = settings_path
        self.document = Document()
        self.controller = AnnotationController(self.document, service)
        self.setWindowTitle("samdesk")
        self.resize(1400, 900)

        self.canvas = CanvasView(self)
        self.canvas.input_gate = self._input_gate
        self.canvas.input_refused = lambda message: self.statusBar().showMessage(message, 3000)
        # The frame navigator sits under the canvas, shown only while a video is on screen.
        self.navigator = FrameNavigator()
        self.navigator.setVisible(False)
        self.navigator.frame_requested.connect(self.show_frame)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.navigator)
        self.setCentralWidget(central)
        self.scene = self.canvas.scene()
        self.layer = AnnotationLayer(self.scene, self.document, self.controller)
        self.layer.opacity = self.settings.mask_opacity
        self.loader = ImageLoader(self)
        self.loader.loaded.connect(self._image_loaded)
        self.loader.failed.connect(self._image_failed)
        self.current_image: QImage | None = None
        self.closing: list[Callable[[], None]] = []  # run when the window closes (stop workers)
        self.tracker: Tracker | None = None  # set with the model runtime (ui.app.attach_model)

        self.media_panel = MediaListPanel(self.document)
        self.objects_panel = ObjectsPanel(self.document, self.controller)
        self.categories_panel = CategoriesPanel(self.document)
        self._dock("Images", self.media_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Objects", self.objects_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Categories", self.categories_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.media_panel.media_activated.connect(self.show_media)
        self.objects_panel.object_activated.connect(self.center_on_object)
        self.categories_panel.category_selected.connect(self._category_selected)

        self.tools: dict[str, Tool] = {cls.name: cls(self) for cls in discover_tools()}
        self.actions_by_name: dict[str, QAction] = {}
        self._build_status_bar()
        self._build_actions()
        self._build_toolbar()

        self.controller.status_changed.append(self._update_status)
        self.controller.pending_changed.append(self._update_status)
        self.controller.frame_changed.append(self._frame_changed)
        self.controller.selection_changed.append(self._hint_missing_frame_mask)
        self.document.events.subscribe(self._document_changed)
        self.canvas.cursor_moved.connect(self._cursor_moved)
        self.set_tool("click")
        self._restore_geometry()
        self._start_autosave()

    # --- construction ------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    @property
    def brush_radius(self) -> float:
        return self.settings.brush_radius

    def _action(
        self,
        name: str,
        text: str,
        shortcuts: Sequence[str | QKeySequence.StandardKey],
        slot: Callable[[], object],
        menu=None,
        checkable: bool = False,
    ) -> QAction:
        action = QAction(text, self)
        keys: list[QKeySequence] = []
        for s in shortcuts:
            # A standard key's first binding is the platform's usual one (Ctrl+S); the others are
            # dedicated keys (the "Save" key) that only clutter the shortcut overlay.
            standard = isinstance(s, QKeySequence.StandardKey)
            keys += QKeySequence.keyBindings(s)[:1] if standard else [QKeySequence(s)]
        action.setShortcuts(keys)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        if menu is not None:
            menu.addAction(action)
        self.actions_by_name[name] = action
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        a = self._action
        file = bar.addMenu("&File")
        open_key = [QKeySequence.StandardKey.Open]
        a("open_images", "Open images or videos…", open_key, self.ask_open_images, file)
        a("open_folder", "Open folder…", ["Ctrl+Shift+O"], self.ask_open_folder, file)
        a("open_project", "Open project…", ["Ctrl+Alt+O"], self.ask_open_project, file)
        file.addSeparator()
        a("save", "Save", [QKeySequence.StandardKey.Save], self.save, file)
        a("save_as", "Save as…", ["Ctrl+Shift+S"], self.save_as, file)
        file.addSeparator()
        a("recover", "Recover unsaved work…", [], self.recover_unsaved, file)
        file.addSeparator()
        a("export", "Export…", ["Ctrl+E"], self.ask_export, file)
        a("import", "Import dataset…", ["Ctrl+I"], self.ask_import, file)
        file.addSeparator()
        a("quit", "Quit", [QKeySequence.StandardKey.Quit], self.close, file)

        edit = bar.addMenu("&Edit")
        a("undo", "Undo", ["Ctrl+Z"], self.undo, edit)
        a("redo", "Redo", ["Ctrl+Shift+Z", "Ctrl+Y"], self.redo, edit)
        edit.addSeparator()
        a("accept", "Accept object (last category)", ["Return", "Enter"], self.accept_pending, edit)
        a(
            "accept_pick",
            "Accept object, choose category…",
            ["Shift+Return", "Shift+Enter"],
            lambda: self.accept_pending(pick=True),
            edit,
        )
        a("discard", "Discard pending object", ["Esc"], self.discard_pending, edit)
        a("next_candidate", "Next candidate mask", ["Tab"], self.controller.cycle_candidate, edit)
        for i in range(3):
            a(
                f"candidate_{i + 1}",
                f"Candidate {i + 1}",
                [str(i + 1)],
                lambda i=i: self.controller.select_candidate(i),
                edit,
            )
        a("refine", "Refine selected object", ["R"], self.controller.refine_selected, edit)
        edit.addSeparator()
        a("delete", "Delete selected objects", ["Delete"], self.delete_selected, edit)
        a("fill_holes", "Fill holes", ["Shift+F"], lambda: self.controller.cleanup_selected(True), edit)
        a(
            "remove_islands",
            "Remove small islands",
            ["Shift+I"],
            lambda: self.controller.cleanup_selected(False, self.settings.min_island_area),
            edit,
        )

        view = bar.addMenu("&View")
        a("fit", "Fit image", ["F"], self.canvas.fit, view)
        a("zoom_in", "Zoom in", ["Ctrl+=", "Ctrl++"], lambda: self.canvas.zoom(1.25), view)
        a("zoom_out", "Zoom out", ["Ctrl+-"], lambda: self.canvas.zoom(0.8), view)
        a(
            "opacity_up",
            "More mask opacity",
            ["Ctrl+]"],
            lambda: self.set_opacity(self.layer.opacity + 0.1),
            view,
        )
        a(
            "opacity_down",
            "Less mask opacity",
            ["Ctrl+["],
            lambda: self.set_opacity(self.layer.opacity - 0.1),
            view,
        )
        a("toggle_masks", "Show/hide accepted masks", ["H"], self.toggle_masks, view)

        tools = bar.addMenu("&Tools")
        group = QActionGroup(self)
        for name, tool in self.tools.items():
            action = a(
                f"tool_{name}",
                tool.label,
                [tool.shortcut] if tool.shortcut else [],
                lambda n=name: self.set_tool(n),
                tools,
                checkable=True,
            )
            action.setToolTip(f"{tool.label} ({tool.shortcut}): {tool.help}")
            group.addAction(action)
        tools.addSeparator()
        a(
            "brush_bigger",
            "Bigger brush",
            ["]"],
            lambda: self.set_brush_radius(self.settings.brush_radius * 1.25),
            tools,
        )
        a(
            "brush_smaller",
            "Smaller brush",
            ["["],
            lambda: self.set_brush_radius(self.settings.brush_radius / 1.25),
            tools,
        )

        image = bar.addMenu("&Image")
        a("next_image", "Next image", ["D", "PgDown"], lambda: self.step_media(+1), image)
        a("prev_image", "Previous image", ["A", "PgUp"], lambda: self.step_media(-1), image)
        a("mark_done", "Mark done and go to next", ["Ctrl+D"], self.mark_done_and_next, image)

        # Frame keys: , and . as in video editors, and the arrows (the canvas does not scroll
        # with them: its scroll bars are off and panning is mouse-driven).
        video = bar.addMenu("&Video")
        a("next_frame", "Next frame", [".", "Right"], lambda: self.step_frame(+1), video)
        a("prev_frame", "Previous frame", [",", "Left"], lambda: self.step_frame(-1), video)
        a(
            "next_frames",
            f"Forward {FRAME_JUMP} frames",
            ["Shift+Right", ">"],
            lambda: self.step_frame(+FRAME_JUMP),
            video,
        )
        a(
            "prev_frames",
            f"Back {FRAME_JUMP} frames",
            ["Shift+Left", "<"],
            lambda: self.step_frame(-FRAME_JUMP),
            video,
        )
        a("first_frame", "First frame", ["Home"], lambda: self.show_frame(0), video)
        a("last_frame", "Last frame", ["End"], lambda: self.show_frame(self.navigator.frame_count - 1), video)
        a("next_marked", "Next annotated frame", ["Ctrl+Right"], lambda: self.step_marked(+1), video)
        a("prev_marked", "Previous annotated frame", ["Ctrl+Left"], lambda: self.step_marked(-1), video)
        video.addSeparator()
        a("track_forward", "Track objects forward", ["Ctrl+T"], lambda: self.track("forward"), video)
        a("track_backward", "Track objects backward", ["Ctrl+Shift+T"], lambda: self.track("backward"), video)
        a("track_both", "Track objects both ways", ["Ctrl+Alt+T"], lambda: self.track("both"), video)
        a("stop_tracking", "Stop tracking", [], self.stop_tracking, video)

        self.model_menu = bar.addMenu("&Model")
        a("load_checkpoint", "Load checkpoint file…", ["Ctrl+L"], self.ask_load_checkpoint, self.model_menu)
        a(
            "use_classical",
            "Use classical (GrabCut, no download)",
            [],
            lambda: self.request_model("classical"),
            self.model_menu,
        )
        a("download_manager", "Download manager…", ["Ctrl+M"], self.open_models_dialog, self.model_menu)
        self.model_menu.addSeparator()
        self.installed_menu = self.model_menu.addMenu("Installed models")
        self.installed_menu.aboutToShow.connect(self._fill_installed_menu)

        help_menu = bar.addMenu("&Help")
        a("shortcuts", "Keyboard shortcuts", ["F1", "?"], self.show_shortcuts, help_menu)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Tools", self)
        bar.setObjectName("toolbar-tools")
        bar.setMovable(False)
        for name in self.tools:
            bar.addAction(self.actions_by_name[f"tool_{name}"])
        bar.addSeparator()
        bar.addWidget(QLabel(" Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(int(self.layer.opacity * 100))
        self.opacity_slider.setFixedWidth(110)
        self.opacity_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100))
        bar.addWidget(self.opacity_slider)
        bar.addWidget(QLabel(" Brush "))
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(1, 500)
        self.brush_spin.setValue(int(self.settings.brush_radius))
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.brush_spin.valueChanged.connect(lambda v: self.set_brush_radius(float(v)))
        bar.addWidget(self.brush_spin)
        bar.addSeparator()
        self.candidates_label = QLabel("")
        bar.addWidget(self.candidates_label)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.hint_label = QLabel("")
        self.model_label = QLabel("no model")
        self.encode_bar = QProgressBar()
        self.encode_bar.setFixedWidth(90)
        self.encode_bar.setRange(0, 0)
        self.encode_bar.setTextVisible(False)
        self.encode_bar.setVisible(False)
        self.encode_label = QLabel("")
        self.click_label = QLabel("click → mask: –")
        self.cursor_label = QLabel("")
        status.addWidget(self.hint_label, 1)
        for widget in (
            self.cursor_label,
            self.encode_label,
            self.encode_bar,
            self.click_label,
            self.model_label,
        ):
            status.addPermanentWidget(widget)

    # --- tools and view settings ---------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        tool = self.tools[name]
        self.canvas.set_tool(tool)
        self.actions_by_name[f"tool_{name}"].setChecked(True)
        self.hint_label.setText(f"{tool.label}: {tool.help}")

    def set_opacity(self, value: float) -> None:
        value = max(0.0, min(1.0, value))
        self.settings.mask_opacity = value
        self.layer.set_opacity(value)
        if self.opacity_slider.value() != round(value * 100):
            self.opacity_slider.setValue(round(value * 100))

    def toggle_masks(self) -> None:
        """A quick look at the bare photo: hides the accepted objects (the pending one stays)."""
        self.layer.set_objects_shown(not self.layer.objects_shown)

    def center_on_object(self, object_id: int) -> None:
        with contextlib.suppress(KeyError):
            frames = self.document.project.object(object_id).frames
            if frames and self.controller.frame not in frames:
                # A video object without a mask here: go to its nearest annotated frame.
                self.show_frame(min(frames, key=lambda f: (abs(f - self.controller.frame), f)))
        mask = self.controller.object_mask(object_id)
        bounds = None if mask is None else mask_ops.bounding_box(mask)
        if bounds is not None:
            x0, y0, x1, y1 = bounds
            self.canvas.centerOn((x0 + x1) / 2, (y0 + y1) / 2)

    def set_brush_radius(self, value: float) -> None:
        value = max(1.0, min(500.0, value))
        self.settings.brush_radius = value
        if self.brush_spin.value() != round(value):
            self.brush_spin.blockSignals(True)
            self.brush_spin.setValue(round(value))
            self.brush_spin.blockSignals(False)

    def show_shortcuts(self) -> None:
        ShortcutsDialog(list(self.actions_by_name.values()), self).exec()

    # --- opening --------------------------------------------------------------------------------
    def open_paths(self, paths: Sequence[str | Path]) -> list[str]:
        """Open images, videos, folders of them and projects; returns readable problems (not
        raised): a file that cannot be read is named in them, and the others still open."""
        problems: list[str] = []
        media: list[Path] = []
        image_suffixes, video_suffixes = media_suffixes()
        known = image_suffixes | video_suffixes
        for raw in paths:
            path = Path(raw).expanduser()
            if is_project_path(path):
                problems += self.open_project(path)
            elif path.is_dir():
                media += sorted(p for p in path.iterdir() if p.suffix.lower() in known and p.is_file())
            elif not path.exists():
                problems.append(f"{path}: no such file")
            elif path.suffix.lower() in known:
                media.append(path)
            else:
                problems.append(f"{path}: not an image, video, folder or {PROJECT_SUFFIX} project")
        problems += self.add_images(media)
        return problems

    def add_images(self, paths: Sequence[Path]) -> list[str]:
        """Add image and video files (probed: a corrupt one is reported, not added)."""
        problems: list[str] = []
        known = {m.path for m in self.document.project.media}
        commands = []
        for path in paths:
            if str(path.resolve()) in known:
                continue
            try:
                commands.append(AddMedia(new_media_item(path)))
            except Exception as exc:  # MediaError & co name the file: report it, open the others
                problems.append(str(exc))
        if commands:
            self.document.execute(Batch(commands, text="add media"))
            first = commands[0].item.id
            self.show_media(first)
            self.set_tool("click")  # a first left click on a fresh image starts an object
        return problems

    def open_project(self, path: Path) -> list[str]:
        try:
            from samdesk.document.persistence import load_project
        except ImportError:
            return [f"{path}: opening projects needs samdesk.document.persistence, missing in this build"]
        try:
            result = load_project(path)
        except Exception as exc:  # ProjectFileError and friends: tell the user, keep the window
            return [str(exc)]
        self.controller.set_media(None)
        self.document.replace_project(result.project, path)
        self.settings.remember_project(str(path))
        self._offer_recovery(path)
        media = self.document.project.media
        if media:
            self.show_media(media[0].id)
        missing = getattr(result, "missing_media", [])
        return [f"missing media file: {m.path}" for m in missing]

    # --- autosave and recovery --------------------------------------------------------------------
    def _start_autosave(self) -> None:
        try:
            from samdesk.document.recovery import RecoveryManager
        except ImportError:
            self.recovery = None
            return
        self.recovery = RecoveryManager(self.document, float(self.settings.autosave_seconds))
        # tick() decides whether an autosave is due; polling often keeps it close to the interval.
        self._autosave_timer = make_timer(self, 5, self._autosave)

    def _autosave(self) -> None:
        if self.recovery is not None and self.recovery.tick() is None and self.recovery.last_error:
            self.statusBar().showMessage(f"Autosave failed: {self.recovery.last_error}", 8000)

    def ask_restore(self, when: str) -> bool:
        """Whether to restore an autosave; tests replace this with a policy."""
        answer = QMessageBox.question(
            self,
            "Recover unsaved work",
            f"An autosave from {when} is newer than the project file.\nRestore it?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def _offer_recovery(self, project_path: Path | None) -> None:
        """Offer a recovery file newer than the project (or, with no project, the newest
        autosave of a never-saved session)."""
        try:
            from samdesk.document import recovery
        except ImportError:
            return
        if project_path is not None:
            info = recovery.find_recovery(project_path)
        else:
            found = recovery.find_unsaved_recoveries()
            info = found[0] if found else None
        if info is None:
            return
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified))
        if not self.ask_restore(when):
            recovery.discard_recovery(info)
            return
        try:
            recovery.restore_recovery(self.document, info)
        except Exception as exc:  # a damaged autosave: say so, keep what is open
            self.show_error("Recovery failed", str(exc))
            return
        if self.recovery is not None:
            self.recovery.adopt(info)
        self.statusBar().showMessage("Restored unsaved work from the autosave", 8000)

    def recover_unsaved(self) -> None:
        """File ▸ Recover: restore the newest autosave of a session that was never saved."""
        self.controller.set_media(None)
        self._offer_recovery(None)
        media = self.document.project.media
        if media:
            self.show_media(media[0].id)

    def show_media(self, media_id: int) -> None:
        try:
            item = self.document.project.media_item(media_id)
        except KeyError:
            return
        self.controller.set_media(media_id)
        self.media_panel.select(media_id)
        self.current_image = None
        self.layer.rebuild()
        self.objects_panel.rebuild()
        video = self.controller.is_video
        self.navigator.setVisible(video)
        if video:
            self.navigator.set_video(item.frame_count)
            self.navigator.set_frame(self.controller.frame)
            self.navigator.set_marked(self.controller.annotated_frames())
            self._load_frame(item)
        else:
            self.loader.load(media_id, item.path)
            self.navigator.set_decoding(False)
        neighbours = self.controller.display_neighbours(media_id)
        # Neighbouring videos are not decoded ahead: opening one costs a container scan.
        self.loader.prefetch([m.path for m in neighbours if m.frame_count == 1 and m.kind != "video"])
        self.setWindowTitle(f"{item.name} — samdesk")

    # --- video frames ------------------------------------------------------------------------------
    def show_frame(self, frame: int) -> None:
        """Show ``frame`` of the video on screen (clamped to its range)."""
        self.controller.set_frame(frame)  # fires _frame_changed when it moved

    def step_frame(self, step: int) -> None:
        if self.controller.is_video:
            self.show_frame(self.controller.frame + step)

    def track(self, direction: str) -> None:
        """Follow the video's keyframed objects from the frame on screen (see ``ui.tracking``)."""
        if self.tracker is None:
            self.show_error("Track", "Tracking needs the model runtime, which this build lacks.")
            return
        self.tracker.start(direction)

    def stop_tracking(self) -> None:
        if self.tracker is not None:
            self.tracker.stop()

    def step_marked(self, step: int) -> None:
        """Jump to the next (step > 0) or previous annotated frame."""
        here = self.controller.frame
        marked = sorted(self.controller.annotated_frames())
        ahead = [f for f in marked if f > here] if step > 0 else [f for f in reversed(marked) if f < here]
        if ahead:
            self.show_frame(ahead[0])

    def _frame_changed(self) -> None:
        item = self.controller.media
        if item is None:
            return
        self.navigator.set_frame(self.controller.frame)
        # Masks follow the frame at once; the picture follows when decoded (the old one stays
        # on screen meanwhile, with the "decoding…" hint, rather than a blank canvas).
        self.layer.rebuild()
        self.objects_panel.rebuild()
        self._load_frame(item)
        self._hint_missing_frame_mask()

    def _load_frame(self, item: MediaItem) -> None:
        frame = self.controller.frame
        self.loader.load(item.id, item.path, frame)
        if frame + 1 < item.frame_count:
            # The next frame decodes in a few ms right after this one (the decoder is there).
            self.loader.prefetch_frames(item.path, [frame + 1])
        self.navigator.set_decoding(self.loader.busy)

    def _input_gate(self) -> str | None:
        """Refuse canvas gestures while the frame they would annotate is not on screen yet."""
        if self.controller.is_video and self.loader.busy:
            return f"Frame {self.controller.frame} is still decoding: click again when it shows"
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
                self.statusBar().showMessage(
                    f"Object {name} has no mask on frame {c.frame}: press R, then click to add one", 8000
                )

    def _document_changed(self, event: DocumentEvent) -> None:
        """Keep the timeline ticks in step with the masks of the video on screen."""
        if not self.navigator.isVisible():
            return
        if event.change == Change.RESET or (
            event.media_id == self.controller.media_id
            and event.change in (Change.OBJECT_ADDED, Change.OBJECT_REMOVED, Change.MASK_CHANGED)
        ):
            self.navigator.set_marked(self.controller.annotated_frames())

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

    def _image_loaded(self, media_id: int, image: QImage) -> None:
        if media_id != self.controller.media_id:
            return
        self.current_image = image
        # Same-sized frames of a video keep the user's zoom and pan.
        self.canvas.set_image(image, keep_view=self.controller.is_video)
        self.navigator.set_decoding(self.loader.busy)

    def _image_failed(self, media_id: int, message: str) -> None:
        self.navigator.set_decoding(False)
        self.show_error("Cannot show frame" if self.controller.is_video else "Cannot show image", message)

    def step_media(self, step: int) -> None:
        target = self.controller.neighbour_id(step)
        if target is not None:
            self.show_media(target)

    def mark_done_and_next(self) -> None:
        media = self.controller.media
        if media is None:
            return
        if self.controller.pending is not None:
            self.accept_pending()
        status = MediaStatus.IN_PROGRESS if media.status == MediaStatus.DONE else MediaStatus.DONE
        self.document.execute(EditMedia(media.id, status=status, text="mark image done"))
        if status == MediaStatus.DONE:
            self.step_media(+1)

    def ask_open_images(self) -> None:
        image_suffixes, video_suffixes = media_suffixes()
        patterns = " ".join(f"*{s}" for s in sorted(image_suffixes | video_suffixes))
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Open images or videos",
            self.settings.last_open_dir,
            f"Images and videos ({patterns});;All files (*)",
        )
        if files:
            self.settings.last_open_dir = str(Path(files[0]).parent)
            self._report(self.open_paths(files))

    def ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self.settings.last_open_dir)
        if folder:
            self.settings.last_open_dir = folder
            self._report(self.open_paths([folder]))

    def ask_open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", self.settings.last_open_dir, f"samdesk project (*{PROJECT_SUFFIX})"
        )
        if path:
            self._report(self.open_paths([path]))

    # --- annotation actions -----------------------------------------------------------------------
    def _tool_consumes(self, key: Qt.Key) -> bool:
        tool = self.canvas.tool
        return tool is not None and tool.key(key)

    def accept_pending(self, pick: bool = False) -> int | None:
        if self._tool_consumes(Qt.Key.Key_Return):
            return None
        if self.controller.pending is None:
            return None
        category = self.controller.current_category
        if pick or category is None:
            category = self.pick_category()
            if category is None:
                return None
        object_id = self.controller.accept(category)
        self.categories_panel.select(self.controller.current_category)
        return object_id

    def pick_category(self) -> int | None:
        """Quick picker: returns an existing category id, a new one, or None when cancelled."""
        picker = CategoryPicker(self.document.project.categories, self.controller.current_category, self)
        chosen = picker.exec()
        # Back to the canvas, so the next shortcut (a tool key, Enter, D) works without a click.
        self.activateWindow()
        self.canvas.setFocus()
        if not chosen:
            return None
        if picker.new_name:
            return self.categories_panel.add(picker.new_name)
        return picker.chosen_id

    def discard_pending(self) -> None:
        if not self._tool_consumes(Qt.Key.Key_Escape):
            if self.controller.pending is not None:
                self.controller.discard()
            else:
                self.controller.select_object(None)

    def delete_selected(self) -> None:
        ids = self.objects_panel.selected_ids() or (
            [self.controller.selected_object] if self.controller.selected_object is not None else []
        )
        self.controller.delete_objects(ids)

    def _category_selected(self, category_id: int | None) -> None:
        if category_id is not None:
            self.controller.current_category = category_id
            self.layer.refresh_pending()

    # --- model ------------------------------------------------------------------------------------
    def set_service(self, service: PredictionService | None, description: str) -> None:
        """Attach the model side (the runtime bridge adapter) and show what it is."""
        self.controller.service = service
        self.model_label.setText(description)
        if service is not None:
            self.controller.prefetch()

    def set_encoding(self, busy: bool, text: str = "") -> None:
        """Non-blocking indicator for the embedding of the image on screen."""
        self.encode_bar.setVisible(busy)
        self.encode_label.setText(text)
        self._update_status()

    def request_model(self, source: str) -> None:
        """Ask for a model by checkpoint path or "classical"; the app's model link loads it."""
        self.settings.last_model = source
        handler = getattr(self, "model_requested", None)
        if handler is None:
            self.show_error("Model", "No model runtime is available in this build.")
            return
        handler(source)

    def _fill_installed_menu(self) -> None:
        """List the checkpoints in the models folder (listed when opened: downloads may land)."""
        self.installed_menu.clear()
        try:
            from model_runtime import download

            found = download.installed()
        except Exception as exc:  # registry missing or models folder unreadable: say so in the menu
            self.installed_menu.addAction(f"(unavailable: {exc})").setEnabled(False)
            return
        if not found:
            self.installed_menu.addAction("(none: use the download manager)").setEnabled(False)
        for model in found:
            label = f"{model.name}  [{model.family or 'custom'}]"
            self.installed_menu.addAction(label, lambda p=str(model.path): self.request_model(p))

    def ask_load_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Load checkpoint",
            self.settings.last_open_dir,
            "Checkpoints (*.pt *.pth *.ckpt *.bin);;All files (*)",
        )
        if path:
            self.request_model(path)

    def open_models_dialog(self) -> None:
        try:
            from samdesk.ui.dialogs.models import ModelsDialog

            dialog = ModelsDialog(self)
        except ImportError as exc:
            self.show_error("Models", f"The model registry is not available in this build ({exc}).")
            return
        dialog.use_model.connect(self.request_model)
        dialog.exec()

    # --- saving and export --------------------------------------------------------------------------
    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        start = self.settings.last_open_dir or str(Path.home())
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Save project",
            str(Path(start) / f"project{PROJECT_SUFFIX}"),
            f"samdesk project (*{PROJECT_SUFFIX})",
        )
        if not path:
            return False
        if not path.endswith(PROJECT_SUFFIX):
            path = str(Path(path).with_suffix("")) + PROJECT_SUFFIX
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            from samdesk.document.persistence import save_project

            save_project(self.document.project, path)
        except Exception as exc:  # ProjectFileError, or persistence missing: never lose work silently
            self.show_error("Save failed", str(exc))
            return False
        self.document.mark_saved(path)
        self._autosave()  # the document is clean now: this removes the recovery file
        self.settings.remember_project(str(path))
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def ask_export(self) -> None:
        try:
            from samdesk.ui.dialogs.export import ExportDialog

            dialog = ExportDialog(self.document.project, self._default_dir(), self)
        except ImportError as exc:
            self.show_error("Export", f"Exporters are not available in this build ({exc}).")
            return
        dialog.exec()

    def ask_import(self) -> None:
        try:
            from samdesk.ui.dialogs.export import ImportDialog

            dialog = ImportDialog(self.document, self._default_dir(), self)
        except ImportError as exc:
            self.show_error("Import", f"Importers are not available in this build ({exc}).")
            return
        if dialog.exec() and self.controller.media is None and self.document.project.media:
            self.show_media(self.document.project.media[0].id)

    def _default_dir(self) -> str:
        if self.document.path is not None:
            return str(self.document.path.parent)
        return self.settings.last_open_dir or str(Path.home())

    # --- status and errors --------------------------------------------------------------------------
    def _update_status(self) -> None:
        c = self.controller
        if c.last_click_ms is not None:
            self.click_label.setText(f"click → mask: {c.last_click_ms:.0f} ms")
        count = c.candidate_count()
        if count > 1 and c.pending is not None and c.pending.candidates is not None:
            cands = c.pending.candidates
            parts = [
                f"{'▶' if i == cands.selected else ''}{i + 1}: {s:.2f}" for i, s in enumerate(cands.scores)
            ]
            self.candidates_label.setText("  candidates (Tab)  " + "   ".join(parts))
        else:
            self.candidates_label.setText("")
        if c.waiting and self.encode_bar.isVisible():
            self.encode_label.setText("encoding… click queued")  # answered once the embedding is ready
        elif c.waiting:
            self.encode_label.setText("predicting…")
        elif self.encode_label.text() in ("predicting…", "encoding… click queued"):
            self.encode_label.setText("")
        if c.error:
            self.statusBar().showMessage(c.error, 8000)

    def _cursor_moved(self, x: float, y: float) -> None:
        self.cursor_label.setText(f"{int(x)}, {int(y)}")

    def show_error(self, title: str, message: str) -> None:
        if self.errors_as_status:
            self.statusBar().showMessage(f"{title}: {message}", 10000)
            self.last_error = message
            return
        QMessageBox.warning(self, title, message)

    def _report(self, problems: list[str]) -> None:
        if problems:
            self.show_error("Some files could not be opened", "\n".join(problems[:20]))

    # --- window state ---------------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))
        if self.settings.window_state:
            self.restoreState(QByteArray.fromBase64(self.settings.window_state.encode()))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.document.dirty and not self.errors_as_status:
            answer = QMessageBox.question(
                self,
                "Unsaved changes",
                "Save the project before closing?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Cancel or (
                answer == QMessageBox.StandardButton.Save and not self.save()
            ):
                event.ignore()
                return
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        self.settings.window_state = bytes(self.saveState().toBase64()).decode()
        # Settings are a convenience: failing to save them must not block closing.
        with contextlib.suppress(OSError):
            self.settings.save(self.settings_path)
        self.loader.wait()
        if self.recovery is not None:
            self.recovery.close()  # a clean exit: saved, or the user chose to discard
        for callback in self.closing:
            callback()
        event.accept()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """For tests and benchmarks: wait for the image decode in flight."""
        deadline = time.monotonic() + timeout
        while (
            (self.current_image is None or self.loader.busy)
            and self.controller.media_id is not None
            and time.monotonic() < deadline
        ):
            from PySide6.QtWidgets import QApplication

            QApplication.processEvents()
            time.sleep(0.005)


def make_timer(parent: QWidget, seconds: int, slot: Callable[[], None]) -> QTimer:
    timer = QTimer(parent)
    timer.setInterval(max(5, seconds) * 1000)
    timer.timeout.connect(slot)
    timer.start()
    return timer
