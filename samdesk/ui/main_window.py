"""The main window: a shell that assembles the parts and connects their signals.

Canvas in the middle with the frame navigator under it, images on the left, objects and
categories on the right. The parts, each in its own module:

- ``actions``: every menu item and shortcut, as one table (what enables each, what handles it)
- ``project_files``: open, save, recover, autosave, import and export (file work off the GUI
  thread through ``background``)
- ``media_navigation``: which image or frame is on the canvas, the timeline, undo that shows
  the frame it changed
- ``timeline``: a lane per object of the video under the canvas, and the frame review
- ``status_bar``; ``model_link`` (the model side of the session); ``tracking`` (Video ▸ Track);
  ``box_segmenter`` (Tools ▸ Segment boxes)
- ``instance_parts``: many objects at once: find all (Ctrl+F) with a concept model in a second
  slot, segment everything, their review, run on all images

The session itself (``samdesk.session``) is Qt-free; this window holds no annotation logic.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QCloseEvent, QImage, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from model_runtime.api import Capability
from model_runtime.runtime import RuntimeConfig
from samdesk.document import Document, EditMedia, MediaStatus
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session import AnnotationController, PredictionService, mask_ops
from samdesk.ui.actions import ACTIONS, Actions, tool_actions
from samdesk.ui.background import BackgroundJobs
from samdesk.ui.box_segmenter import BoxSegmenter
from samdesk.ui.canvas.layers import AnnotationLayer
from samdesk.ui.canvas.view import CanvasView
from samdesk.ui.dialogs import load_failed
from samdesk.ui.dialogs.category_picker import CategoryPicker
from samdesk.ui.dialogs.models import ModelsDialog
from samdesk.ui.dialogs.shortcuts import ShortcutsDialog
from samdesk.ui.display_controls import DisplayControls
from samdesk.ui.image_loader import ImageLoader
from samdesk.ui.instance_parts import InstanceParts
from samdesk.ui.instance_parts import build as build_instance_parts
from samdesk.ui.media_navigation import MediaNavigation
from samdesk.ui.missing_media import MissingMedia
from samdesk.ui.model_link import ModelLink
from samdesk.ui.panels.categories import CategoriesPanel
from samdesk.ui.panels.frame_navigator import FrameNavigator
from samdesk.ui.panels.history import HistoryPanel
from samdesk.ui.panels.media_list import MediaListPanel
from samdesk.ui.panels.objects import ObjectsPanel
from samdesk.ui.playback import Player
from samdesk.ui.project_files import ProjectFiles
from samdesk.ui.qt_compat import install_none_guard
from samdesk.ui.settings import Settings
from samdesk.ui.status_bar import StatusBar
from samdesk.ui.timeline.part import Timeline
from samdesk.ui.tools.base import Tool, ToolHost, discover_tools
from samdesk.ui.tracking import Tracker
from samdesk.ui.window_title import show_title

QUIT_WAIT_S = 0.25  # per runtime, for a model call running when the window closes
CLICK_ONLY = frozenset({Capability.CLICK})  # what a prediction double given to set_service can do


class MainWindow(QMainWindow):
    model_requested = Signal(str)  # a checkpoint path or "classical": the model link loads it

    # Tests, benchmarks and screenshot scripts set this: errors go to the status bar and
    # ``last_error`` instead of modal message boxes that would block an unattended run.
    errors_as_status = False
    last_error = ""

    def __init__(
        self,
        settings: Settings | None = None,
        service: PredictionService | None = None,
        settings_path: Path | None = None,
        bridge: RuntimeBridge | None = None,
        runtime_config: RuntimeConfig | None = None,
    ) -> None:
        super().__init__()
        install_none_guard(QApplication.instance())
        self.settings = settings or Settings()
        self.settings_path = settings_path
        self.document = Document()
        self.controller = AnnotationController(self.document, service)
        show_title(self, self.document, None)
        self.resize(1400, 900)
        self.capabilities: frozenset[str] | None = None  # of the loaded model; None: no model yet
        self.model_name = "no model"

        # --- the canvas, its overlays and the parts around it --------------------------------
        self.canvas = CanvasView(self)
        self.scene = self.canvas.scene()
        self.layer = AnnotationLayer(self.scene, self.document, self.controller)
        self.layer.opacity = self.settings.mask_opacity
        self.layer.color_by_category = self.settings.color_by_category
        self.navigation = MediaNavigation(self.document, self.controller, self.canvas)
        self.timeline = Timeline(self.document, self.controller, self.layer.object_color)
        say = lambda text: self.status.show_message(text, 4000)  # noqa: E731 (the bar comes below)
        self.player = Player(self.controller, self.navigation, say)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.canvas, 1)
        column.addWidget(self.timeline.view)
        column.addWidget(self.navigation.navigator)
        self.setCentralWidget(central)
        self.status = StatusBar(self.statusBar(), self.controller)
        self.canvas.input_refused = lambda message: self.status.show_message(message, 3000)
        self.display = DisplayControls(self.canvas, lambda text: self.status.show_message(text, 4000), self)

        self.bridge = bridge or RuntimeBridge(config=runtime_config, parent=self)
        self.jobs = BackgroundJobs(self.bridge, self)
        self.files = ProjectFiles(self.document, self.controller, self.settings, self.jobs, self)
        self.missing = MissingMedia(self.document, self.jobs, self)
        self.model_link = ModelLink(self.bridge, self.controller, self.navigation.loader.frames)
        # The objects panel is made below; the tracker asks for its selection when a run starts.
        selection = lambda: self.objects_panel.selected_ids()  # noqa: E731
        self.tracker = Tracker(self.bridge, self.document, self.controller, selection)
        self.box_segmenter = BoxSegmenter(self.bridge, self.document, self.navigation.loader.frames)
        self.status.add_permanent(self.tracker.bar)
        self.status.add_permanent(self.tracker.stop_button)

        self.media_panel = MediaListPanel(self.document)
        self.objects_panel = ObjectsPanel(
            self.document, self.controller, object_color=self.layer.object_color
        )
        self.categories_panel = CategoriesPanel(self.document)
        self._dock("Images", self.media_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Objects", self.objects_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        right = Qt.DockWidgetArea.RightDockWidgetArea
        categories = self._dock("Categories", self.categories_panel, right)
        # The undo history shares the categories' place, a tab beside them.
        self.history_panel = HistoryPanel(self.document, self.navigation.undo, self.navigation.redo)
        self.tabifyDockWidget(categories, self._dock("History", self.history_panel, right))
        categories.raise_()

        brush = lambda: self.settings.brush_radius  # noqa: E731 (read at each stroke: it changes)
        say = lambda text: self.status.show_message(text, 5000)  # noqa: E731
        host = ToolHost(self.controller, self.scene, self.canvas.transform, brush, say)
        self.tools: dict[str, Tool] = {cls.name: cls(host) for cls in discover_tools()}
        self.instances: InstanceParts = build_instance_parts(self, column)
        self.menu_actions = Actions(self, self._ordered_actions())
        self.installed_menu = self.menu_actions.menus["&Model"].addMenu("Installed models")
        self.installed_menu.aboutToShow.connect(self.fill_installed_menu)
        self._build_toolbar()
        self._connect_parts()
        self.set_tool("click")
        self.menu_actions["color_by_category"].setChecked(self.settings.color_by_category)
        self._update_actions()
        self._restore_geometry()

    def _ordered_actions(self):
        """The table, with the tool actions where the Tools menu starts."""
        tools = tool_actions(self.tools.values())
        first = next(i for i, spec in enumerate(ACTIONS) if spec.menu == "&Tools")
        return [*ACTIONS[:first], *tools, *ACTIONS[first:]]

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        features = QDockWidget.DockWidgetFeature
        dock.setFeatures(features.DockWidgetMovable | features.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_toolbar(self) -> None:
        bar = QToolBar("Tools", self)
        bar.setObjectName("toolbar-tools")
        bar.setMovable(False)
        for name in self.tools:
            bar.addAction(self.menu_actions[f"tool_{name}"])
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

    def _connect_parts(self) -> None:
        c, status = self.controller, self.status
        c.pending_changed.append(self._show_candidates)
        c.media_changed.append(self.objects_panel.rebuild)
        c.frame_changed.append(self.objects_panel.rebuild)
        self.canvas.cursor_moved.connect(status.set_cursor)
        self.media_panel.media_activated.connect(self.navigation.show_media)
        self.objects_panel.object_activated.connect(self.center_on_object)
        self.categories_panel.category_selected.connect(self._category_selected)
        self.categories_panel.visibility_changed.connect(self.layer.set_category_shown)
        self.navigation.media_shown.connect(self._media_shown)
        self.files.media_opened.connect(self._media_opened)
        self.files.opened.connect(self._report_problems)
        self.files.project_opened.connect(lambda: self.missing.offer(self.missing.missing()))
        self.files.project_opened.connect(self._update_actions)
        self.files.message.connect(lambda *_: self.history_panel.refresh())  # "Saved …": the mark moves
        self.files.saved.connect(self.refresh_title)
        self.document.events.subscribe_batch(lambda _events: self.refresh_title())
        self.missing.relinked.connect(self._media_relinked)
        self.model_requested.connect(self.model_link.load)
        self.model_link.loading.connect(status.set_model)
        self.model_link.loaded.connect(self._model_loaded)
        self.model_link.load_failed.connect(status.set_model)
        self.model_link.load_error.connect(self._model_load_failed)
        self.model_link.encoding.connect(status.set_encoding)
        self.tracker.running_changed.connect(lambda _running: self._update_actions())
        self.instances.link.loaded.connect(lambda _text: self._update_actions())
        # A run encodes every frame itself: frames passed over while scrubbing are not encoded
        # ahead beside it (they would compete with it); a click still encodes what it needs.
        self.tracker.running_changed.connect(c.pause_encoding_ahead)
        self.timeline.frame_requested.connect(self.navigation.show_frame)
        self.timeline.scrubbing.connect(self.navigation.set_scrubbing)
        self.timeline.message.connect(status.show_message)
        parts = (self.files, self.missing, self.navigation, self.model_link, self.tracker, self.box_segmenter)
        for part in parts:
            part.message.connect(status.show_message)
            part.error.connect(self.show_error)

    # --- what the parts hold -----------------------------------------------------------------
    @property
    def navigator(self) -> FrameNavigator:
        return self.navigation.navigator

    @property
    def loader(self) -> ImageLoader:
        return self.navigation.loader

    @property
    def current_image(self) -> QImage | None:
        return self.navigation.current_image

    # --- tools and view settings ---------------------------------------------------------------
    def set_tool(self, name: str) -> None:
        tool = self.tools[name]
        self.canvas.set_tool(tool)
        self.menu_actions[f"tool_{name}"].setChecked(True)
        self.status.set_hint(f"{tool.label}: {tool.help}")

    def set_opacity(self, value: float) -> None:
        value = max(0.0, min(1.0, value))
        self.settings.mask_opacity = value
        self.layer.set_opacity(value)
        if self.opacity_slider.value() != round(value * 100):
            self.opacity_slider.setValue(round(value * 100))

    def change_opacity(self, step: float) -> None:
        self.set_opacity(self.layer.opacity + step)

    def set_color_by_category(self) -> None:
        """View ▸ Colour objects by category (checked), else a shade of it per object."""
        by_category = self.menu_actions["color_by_category"].isChecked()
        self.settings.color_by_category = by_category
        self.layer.set_color_by_category(by_category)
        self.objects_panel.rebuild()

    def toggle_masks(self) -> None:
        """A quick look at the bare photo: hides the accepted objects (the pending one stays)."""
        self.layer.set_objects_shown(not self.layer.objects_shown)

    def set_brush_radius(self, value: float) -> None:
        value = max(1.0, min(500.0, value))
        self.settings.brush_radius = value
        if self.brush_spin.value() != round(value):
            self.brush_spin.blockSignals(True)
            self.brush_spin.setValue(round(value))
            self.brush_spin.blockSignals(False)

    def scale_brush(self, factor: float) -> None:
        self.set_brush_radius(self.settings.brush_radius * factor)

    def center_on_object(self, object_id: int) -> None:
        with contextlib.suppress(KeyError):
            frames = self.document.project.object(object_id).frames
            if frames and self.controller.frame not in frames:
                # A video object without a mask here: go to its nearest annotated frame.
                here = self.controller.frame
                self.navigation.show_frame(min(frames, key=lambda f: (abs(f - here), f)))
        mask = self.controller.object_mask(object_id)
        bounds = None if mask is None else mask_ops.bounding_box(mask)
        if bounds is not None:
            x0, y0, x1, y1 = bounds
            self.canvas.centerOn((x0 + x1) / 2, (y0 + y1) / 2)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """A key no widget took: when it is the shortcut of a disabled action, say why."""
        reason = self.menu_actions.refusal(QKeySequence(event.keyCombination()))
        if reason is None:
            super().keyPressEvent(event)
            return
        self.status.show_message(reason, 8000)

    def show_shortcuts(self) -> None:
        ShortcutsDialog(list(self.menu_actions.by_id.values()), self).exec()

    # --- what the parts report ---------------------------------------------------------------
    def _media_opened(self, media_id: int) -> None:
        self.navigation.show_media(media_id)
        self.set_tool("click")  # a first left click on a fresh image starts an object

    def _media_shown(self, media_id: int) -> None:
        self.media_panel.select(media_id)
        self.refresh_title()
        self._update_actions()

    def refresh_title(self) -> None:
        """Project name, media on screen and the unsaved marker (``window_title.py``)."""
        media = self.controller.media
        show_title(self, self.document, media.name if media is not None else None)

    def _media_relinked(self, media_ids: list[int]) -> None:
        here = self.controller.media_id
        if here in media_ids:
            self.controller.set_media(None)  # shown afresh: its picture is there now
            self.navigation.show_media(here)
        self._update_actions()

    def _model_loaded(self, description: str, capabilities: frozenset[str]) -> None:
        self.status.set_model(description)
        self.model_name = description.split(" · ")[0]
        self.capabilities = capabilities
        self._update_actions()
        self.instances.refresh_tracking()  # SAM 3 as the click model tracks a phrase too

    def _update_actions(self) -> None:
        conditions = {
            "video": self.controller.is_video,
            "tracking": self.tracker.running,
            "missing_media": self.missing.any_missing,
        }
        concept = self.instances.link.capabilities()
        self.menu_actions.update(self.capabilities, self.model_name, conditions, concept)

    def _show_candidates(self) -> None:
        c = self.controller
        cands = c.pending.candidates if c.pending is not None else None
        if cands is None or len(cands) < 2:
            self.candidates_label.setText("")
            return
        parts = [f"{'▶' if i == cands.selected else ''}{i + 1}: {s:.2f}" for i, s in enumerate(cands.scores)]
        self.candidates_label.setText("  candidates (Tab)  " + "   ".join(parts))

    def show_error(self, title: str, message: str) -> None:
        if self.errors_as_status:
            self.status.show_message(f"{title}: {message}", 10000)
            self.last_error = message
            return
        QMessageBox.warning(self, title, message)

    def _report_problems(self, problems: list[str]) -> None:
        if problems:
            self.show_error("Some files could not be opened", "\n".join(problems[:20]))

    # --- annotation actions -----------------------------------------------------------------------
    def _tool_consumes(self, key: Qt.Key) -> bool:
        tool = self.canvas.tool
        return tool is not None and tool.key(key)

    def accept_pending(self, pick: bool = False) -> int | None:
        if self._tool_consumes(Qt.Key.Key_Return) or not self.controller.ready_to_accept():
            return None
        if self.controller.pending_instances is not None:
            return self.instances.accept_all(self.pick_category if pick else None)
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
        """Esc: the nearest thing first: the tool's gesture, the pending object, a tracking run,
        a find-all query or sweep in progress, the selection."""
        if self._tool_consumes(Qt.Key.Key_Escape):
            return
        if self.controller.has_pending():
            self.controller.discard()
        elif self.tracker.running:
            self.tracker.stop()
        elif not self.instances.cancel():
            self.controller.select_object(None)

    def delete_selected(self) -> None:
        if self.instances.reject_selected():
            return
        ids = self.objects_panel.selected_ids() or (
            [self.controller.selected_object] if self.controller.selected_object is not None else []
        )
        self.controller.delete_objects(ids)

    def remove_islands(self) -> None:
        self.controller.cleanup_selected(False, self.settings.min_island_area)

    def mark_done_and_next(self) -> None:
        media = self.controller.media
        if media is None:
            return
        if self.controller.has_pending():
            self.accept_pending()
        status = MediaStatus.IN_PROGRESS if media.status == MediaStatus.DONE else MediaStatus.DONE
        self.document.execute(EditMedia(media.id, status=status, text="mark image done"))
        if status == MediaStatus.DONE:
            self.navigation.step_media(+1)

    def _category_selected(self, category_id: int | None) -> None:
        if category_id is not None:
            self.controller.current_category = category_id
            self.layer.refresh_pending()

    # --- model ------------------------------------------------------------------------------------
    def set_service(
        self, service: PredictionService | None, description: str, capabilities: frozenset[str] = CLICK_ONLY
    ) -> None:
        """Use ``service`` for predictions instead of the model link (a test or benchmark
        double), shown as ``description``."""
        self.controller.service = service
        self._model_loaded(description, capabilities)
        if service is not None:
            self.controller.prefetch()

    def use_device(self, choice: str) -> None:
        """Load models from now on on ``choice`` ("auto", "cpu", "cuda", "cuda:N", "mps"): the
        click model and the concept model (``--device``, else the ``device`` setting)."""
        self.model_link.device = choice
        self.instances.link.device = choice

    def request_model(self, source: str) -> None:
        """Ask for a model by checkpoint path or "classical"."""
        self.settings.last_model = source
        self.model_requested.emit(source)

    def _model_load_failed(self, source: str, reason: str) -> None:
        offer_classical = self.bridge.runtime.model_info is None and source != "classical"
        choice = self.ask_after_failed_load(f"Could not load {source}:\n\n{reason}", offer_classical)
        if choice == load_failed.USE_CLASSICAL:
            self.request_model("classical")
        elif choice == load_failed.CHOOSE_FILE:
            self.ask_load_checkpoint()

    def ask_after_failed_load(self, text: str, offer_classical: bool) -> str | None:
        """What to load after a failed load (``dialogs.load_failed``); tests replace this."""
        if self.errors_as_status:
            self.show_error("Model not loaded", text)
            return None
        return load_failed.ask_after_failed_load(self, text, offer_classical)

    def fill_installed_menu(self) -> None:
        """List the checkpoints in the models folder (listed when opened: downloads may land)."""
        from model_runtime import download  # imports torch (seconds): not at start-up

        self.installed_menu.clear()
        try:
            found = download.installed()
        except OSError as exc:  # the models folder is unreadable: say so in the menu
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
        dialog = ModelsDialog(self)
        dialog.use_model.connect(self.request_model)
        dialog.exec()

    # --- window state ---------------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        if self.settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(self.settings.window_geometry.encode()))
        if self.settings.window_state:
            self.restoreState(QByteArray.fromBase64(self.settings.window_state.encode()))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.document.has_unsaved_work and not self.errors_as_status:
            answer = QMessageBox.question(
                self,
                "Unsaved changes",
                "Save the project before closing?",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Cancel or (
                answer == QMessageBox.StandardButton.Save and not self.files.save()
            ):
                event.ignore()
                return
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        self.settings.window_state = bytes(self.saveState().toBase64()).decode()
        # Settings are a convenience: failing to save them must not block closing.
        with contextlib.suppress(OSError):
            self.settings.save(self.settings_path)
        self.files.close()  # a clean exit: saved, or the user chose to discard
        self.navigation.close()
        # A model call still running when the runtimes close is not waited for long: it cannot be
        # interrupted, and the program leaves without it (samdesk.cli.run); 2 s for each of the two
        # runtimes made a quit linger up to 4 s.
        self.instances.close(QUIT_WAIT_S)
        self.bridge.shutdown(QUIT_WAIT_S)
        event.accept()
