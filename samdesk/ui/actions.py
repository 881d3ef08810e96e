"""Every menu item and shortcut of the main window, as one table.

An :class:`ActionSpec` names the action, its text, shortcuts, menu, the window method that
handles it (a dotted path from the window: ``"files.save"``, with ``args``), and what enables it:
a model capability (``needs``: tracking needs a ``video`` model) and/or a condition of the
window (``when``: a video on screen, a tracking run going). An action the loaded model cannot
serve is disabled, and its tooltip says which models can. The shortcut overlay (F1) lists the
actions built from this table, so it cannot go stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from model_runtime.api import Capability, models_with

Key = str | QKeySequence.StandardKey
FRAME_JUMP = 10  # Shift+Left/Right

MENUS = ("&File", "&Edit", "&View", "&Tools", "&Image", "&Video", "&Model", "&Help")

# Conditions of the window that enable actions (``ActionSpec.when``), with the tooltip shown
# while they do not hold.
CONDITIONS = {
    "video": "Open a video first",
    "tracking": "No tracking run is going",
    "missing_media": "No media file of the project is missing",
}


# Capabilities asked of the concept model (a second slot, or the click model when it has them).
CONCEPT_SLOT = frozenset({Capability.CONCEPT, Capability.CONCEPT_VIDEO})
# What to do, after "Needs …", when no loaded model has the capability.
LOAD_SAM3 = "load SAM 3 to track a phrase (Model ▸ Load concept model…)"
HINTS = {Capability.CONCEPT_VIDEO: f": {LOAD_SAM3}"}


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    menu: str  # one of MENUS
    handler: str  # a method of the window, or of one of its parts ("files.save")
    shortcuts: tuple[Key, ...] = ()
    args: tuple[Any, ...] = ()
    needs: str | None = None  # a model capability (model_runtime.api.Capability)
    when: str | None = None  # a key of CONDITIONS
    separator_before: bool = False
    checkable: bool = False
    group: str | None = None  # checkable actions of one group are exclusive (the tools)
    tip: str = ""


def _a(id: str, text: str, menu: str, handler: str, *shortcuts: Key, **options: Any) -> ActionSpec:
    return ActionSpec(id, text, menu, handler, shortcuts, **options)


S = QKeySequence.StandardKey

ACTIONS: tuple[ActionSpec, ...] = (
    _a("open_images", "Open images or videos…", "&File", "files.ask_open_images", S.Open),
    _a("open_folder", "Open folder…", "&File", "files.ask_open_folder", "Ctrl+Shift+O"),
    _a("open_project", "Open project…", "&File", "files.ask_open_project", "Ctrl+Alt+O"),
    _a("save", "Save", "&File", "files.save", S.Save, separator_before=True),
    _a("save_as", "Save as…", "&File", "files.save_as", "Ctrl+Shift+S"),
    _a("recover", "Recover unsaved work…", "&File", "files.recover_unsaved", separator_before=True),
    _a("locate_media", "Locate missing media…", "&File", "missing.locate", when="missing_media"),
    _a("export", "Export…", "&File", "files.ask_export", "Ctrl+E", separator_before=True),
    _a("import", "Import dataset…", "&File", "files.ask_import", "Ctrl+I"),
    _a("quit", "Quit", "&File", "close", S.Quit, separator_before=True),
    _a("undo", "Undo", "&Edit", "navigation.undo", "Ctrl+Z"),
    _a("redo", "Redo", "&Edit", "navigation.redo", "Ctrl+Shift+Z", "Ctrl+Y"),
    _a("accept", "Accept object (last category)", "&Edit", "accept_pending", "Return", "Enter",
       separator_before=True),
    _a("accept_pick", "Accept object, choose category…", "&Edit", "accept_pending",
       "Shift+Return", "Shift+Enter", args=(True,)),
    _a("accept_instance", "Accept selected instance", "&Edit", "instances.accept_selected", "Ctrl+Return",
       "Ctrl+Enter"),
    _a("discard", "Discard pending object (or stop tracking)", "&Edit", "discard_pending", "Esc"),
    _a("next_candidate", "Next candidate mask", "&Edit", "controller.cycle_candidate", "Tab"),
    *(
        _a(f"candidate_{i + 1}", f"Candidate {i + 1}", "&Edit", "controller.select_candidate", str(i + 1),
           args=(i,))
        for i in range(3)
    ),
    _a("refine", "Refine selected object", "&Edit", "controller.refine_selected", "R"),
    _a("delete", "Delete selected objects", "&Edit", "delete_selected", "Delete", separator_before=True),
    _a("toggle_occluded", "Mark selected objects occluded (or not)", "&Edit",
       "objects_panel.attributes.toggle", "O", args=("occluded",), separator_before=True,
       tip="Partly hidden by another object"),
    _a("toggle_truncated", "Mark selected objects truncated (or not)", "&Edit",
       "objects_panel.attributes.toggle", "U", args=("truncated",), tip="Cut off by the image border"),
    _a("edit_note", "Note on selected objects…", "&Edit", "objects_panel.attributes.edit_note", "Shift+N"),
    _a("fill_holes", "Fill holes", "&Edit", "controller.cleanup_selected", "Shift+F", args=(True,)),
    _a("remove_islands", "Remove small islands", "&Edit", "remove_islands", "Shift+I"),
    _a("fit", "Fit image", "&View", "canvas.fit", "F"),
    _a("zoom_in", "Zoom in", "&View", "canvas.zoom", "Ctrl+=", "Ctrl++", args=(1.25,)),
    _a("zoom_out", "Zoom out", "&View", "canvas.zoom", "Ctrl+-", args=(0.8,)),
    _a("opacity_up", "More mask opacity", "&View", "change_opacity", "Ctrl+]", args=(0.1,)),
    _a("opacity_down", "Less mask opacity", "&View", "change_opacity", "Ctrl+[", args=(-0.1,)),
    _a("toggle_masks", "Show/hide accepted masks", "&View", "toggle_masks", "H"),
    *(
        _a(f"{name}_{way}", f"{'More' if sign > 0 else 'Less'} {name}", "&View", "display.change", key,
           args=(name, sign), separator_before=name == "brightness" and sign > 0,
           tip="View only: exports and the model see the image as it is")
        for name, keys in (
            ("brightness", ("Shift+Up", "Shift+Down")),
            ("contrast", ("Ctrl+Shift+Up", "Ctrl+Shift+Down")),
            ("gamma", ("Alt+Up", "Alt+Down")),
        )
        for way, sign, key in (("up", 1, keys[0]), ("down", -1, keys[1]))
    ),
    _a("display_auto", "Auto brightness and contrast", "&View", "display.auto", "Ctrl+Shift+L",
       tip="Stretch the picture from its darkest to its lightest tones (view only)"),
    _a("display_reset", "Reset brightness, contrast and gamma", "&View", "display.reset", "Ctrl+0"),
    _a("display_dialog", "Brightness, contrast, gamma…", "&View", "display.show_dialog"),
    _a("color_by_category", "Colour objects by category", "&View", "set_color_by_category", "Shift+K",
       checkable=True, tip="One colour per category, instead of a shade of it per object"),
    _a("brush_bigger", "Bigger brush", "&Tools", "scale_brush", "]", args=(1.25,), separator_before=True),
    _a("brush_smaller", "Smaller brush", "&Tools", "scale_brush", "[", args=(1 / 1.25,)),
    _a("segment_boxes", "Segment boxes", "&Tools", "box_segmenter.start", needs=Capability.CLICK,
       separator_before=True, tip="Give every box (an imported detection or a Rectangle box) its mask"),
    _a("next_image", "Next image", "&Image", "navigation.step_media", "D", "PgDown", args=(+1,)),
    _a("prev_image", "Previous image", "&Image", "navigation.step_media", "A", "PgUp", args=(-1,)),
    _a("mark_done", "Mark done and go to next", "&Image", "mark_done_and_next", "Ctrl+D"),
    _a("edit_tags", "Image tags…", "&Image", "media_panel.tags.edit", "T",
       tip="Labels of the whole image (night, blurry…)"),
    _a("find_all", "Find all…", "&Image", "instances.find_all.open", "Ctrl+F", separator_before=True,
       tip="Every instance of a phrase (car; person) on this image, with a concept model (SAM 3)"),
    _a("segment_everything", "Segment everything", "&Image", "instances.everything.start", "Ctrl+Shift+A",
       needs=Capability.EVERYTHING, tip="Every object of this image proposed at once, for review"),
    # Frame keys: , and . as in video editors, and the arrows (the canvas does not scroll with
    # them: its scroll bars are off and panning is mouse-driven).
    _a("next_frame", "Next frame", "&Video", "navigation.step_frame", ".", "Right", args=(+1,), when="video"),
    _a("prev_frame", "Previous frame", "&Video", "navigation.step_frame", ",", "Left", args=(-1,),
       when="video"),
    _a("next_frames", f"Forward {FRAME_JUMP} frames", "&Video", "navigation.step_frame",
       "Shift+Right", ">", args=(FRAME_JUMP,), when="video"),
    _a("prev_frames", f"Back {FRAME_JUMP} frames", "&Video", "navigation.step_frame",
       "Shift+Left", "<", args=(-FRAME_JUMP,), when="video"),
    _a("first_frame", "First frame", "&Video", "navigation.show_frame", "Home", args=(0,), when="video"),
    _a("last_frame", "Last frame", "&Video", "navigation.show_last_frame", "End", when="video"),
    _a("next_marked", "Next annotated frame", "&Video", "navigation.step_marked", "Ctrl+Right",
       args=(+1,), when="video"),
    _a("prev_marked", "Previous annotated frame", "&Video", "navigation.step_marked", "Ctrl+Left",
       args=(-1,), when="video"),
    *(
        _a(f"track_{name}", text, "&Video", "tracker.start", *keys, args=(direction, extent),
           needs=Capability.VIDEO, when="video", separator_before=name == "here", tip=tip)
        for name, text, keys, direction, extent, tip in (
            ("here", "Track from here to the next keyframe", ("Ctrl+T",), "forward", "next_keyframe",
             "After a correction: re-track the selected objects (or those corrected on this frame) "
             "up to their next keyframe or until lost; frames beyond stay as they are"),
            ("here_back", "Track back from here to the previous keyframe", ("Ctrl+Shift+T",), "backward",
             "next_keyframe", "The same, backward"),
            ("forward", "Track forward to the end", ("Ctrl+Alt+T",), "forward", "end",
             "Track the selected objects (or all) from this frame to the last one"),
            ("backward", "Track backward to the start", (), "backward", "end",
             "Track the selected objects (or all) from this frame to the first one"),
            ("both", "Track both ways to the ends", (), "both", "end",
             "Track the selected objects (or all) from this frame to both ends"),
        )
    ),
    _a("play", "Play / pause", "&Video", "player.toggle", "K", when="video", separator_before=True),
    _a("play_faster", "Play faster", "&Video", "player.faster", when="video"),
    _a("play_slower", "Play slower", "&Video", "player.slower", when="video"),
    _a("loop", "Loop playback (or not)", "&Video", "player.toggle_loop", "L", when="video",
       tip="Over the range set below, else the whole video"),
    _a("loop_start", "Loop from this frame", "&Video", "player.set_loop_start", "Shift+Home", when="video"),
    _a("loop_end", "Loop to this frame", "&Video", "player.set_loop_end", "Shift+End", when="video"),
    _a("loop_clear", "Clear the loop range", "&Video", "player.clear_loop", when="video"),
    _a("track_phrase", "Track a phrase through the video…", "&Video", "instances.open_tracking",
       "Ctrl+Shift+F", needs=Capability.CONCEPT_VIDEO, when="video", separator_before=True,
       tip="Every instance of a phrase (person, car) followed through the video with SAM 3: "
           "the find-all bar's Track"),
    _a("retrack_instance", "Re-track instance from here", "&Video", "instances.phrases.retrack_selected",
       "Ctrl+Alt+R", needs=Capability.CONCEPT_VIDEO, when="video",
       tip="After correcting a tracked instance on this frame (R, clicks, Enter): track it again "
           "from here to its next correction, with SAM 3"),
    _a("track_frames", "Track a number of frames…", "&Video", "tracker.ask_frames", needs=Capability.VIDEO,
       when="video"),
    _a("stop_tracking", "Stop tracking (Esc)", "&Video", "tracker.stop", when="tracking"),
    _a("mark_reviewed", "Mark frame reviewed (or not)", "&Video", "timeline.toggle_reviewed", "Shift+R",
       when="video", separator_before=True,
       tip="The masks on this frame are right: the timeline shows it, the review queue skips it"),
    _a("next_to_review", "Next frame to review", "&Video", "timeline.next_to_review", "N", when="video",
       tip="Go to the tracked frame most likely wrong (unsure tracker, sudden change, flicker)"),
    _a("load_checkpoint", "Load checkpoint file…", "&Model", "ask_load_checkpoint", "Ctrl+L"),
    _a("use_classical", "Use classical (GrabCut, no download)", "&Model", "request_model",
       args=("classical",)),
    _a("download_manager", "Download manager…", "&Model", "open_models_dialog", "Ctrl+M"),
    _a("load_concept_model", "Load concept model (SAM 3)…", "&Model", "instances.ask_load_concept_model",
       separator_before=True, tip="SAM 3 beside the click model, for find all"),
    _a("unload_concept_model", "Unload concept model", "&Model", "instances.unload_concept_model"),
    _a("shortcuts", "Keyboard shortcuts", "&Help", "show_shortcuts", "F1", "?"),
)


def tool_actions(tools: Iterable[Any]) -> list[ActionSpec]:
    """One checkable action per canvas tool (``samdesk.ui.tools``), in toolbar order."""
    return [
        ActionSpec(
            f"tool_{tool.name}", tool.label, "&Tools", "set_tool",
            (tool.shortcut,) if tool.shortcut else (), args=(tool.name,), checkable=True, group="tools",
            tip=f"{tool.label} ({tool.shortcut}): {tool.help}",
        )
        for tool in tools
    ]


def resolve(owner: object, handler: str) -> Callable[..., Any]:
    """``owner.a.b`` for handler ``"a.b"``; raises AttributeError naming the handler."""
    target: Any = owner
    for part in handler.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise AttributeError(f"action handler {handler!r} is not callable")
    return target


def key_sequences(keys: Iterable[Key]) -> list[QKeySequence]:
    sequences: list[QKeySequence] = []
    for key in keys:
        # A standard key's first binding is the platform's usual one (Ctrl+S); the others are
        # dedicated keys (the "Save" key) that only clutter the shortcut overlay.
        if isinstance(key, QKeySequence.StandardKey):
            sequences += QKeySequence.keyBindings(key)[:1]
        else:
            sequences.append(QKeySequence(key))
    return sequences


class Actions:
    """The window's QActions built from specs: ``by_id``, menus by title, and enabling."""

    def __init__(self, window: QMainWindow, specs: Iterable[ActionSpec]) -> None:
        self.window = window
        self.specs: dict[str, ActionSpec] = {}
        self.by_id: dict[str, QAction] = {}
        self.menus: dict[str, QMenu] = {}
        self._groups: dict[str, QActionGroup] = {}
        for title in MENUS:
            menu = window.menuBar().addMenu(title)
            menu.setToolTipsVisible(True)  # disabled items say why
            self.menus[title] = menu
        for spec in specs:
            self.add(spec)

    def add(self, spec: ActionSpec) -> QAction:
        handler = resolve(self.window, spec.handler)  # a typo fails at start-up, not on use
        action = QAction(spec.text, self.window)
        action.setShortcuts(key_sequences(spec.shortcuts))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(spec.checkable)
        if spec.tip:
            action.setToolTip(spec.tip)
        action.triggered.connect(lambda _checked=False: handler(*spec.args))
        self.window.addAction(action)
        menu = self.menus[spec.menu]
        if spec.separator_before:
            menu.addSeparator()
        menu.addAction(action)
        if spec.group is not None:
            self._groups.setdefault(spec.group, QActionGroup(self.window)).addAction(action)
        self.specs[spec.id] = spec
        self.by_id[spec.id] = action
        return action

    def __getitem__(self, action_id: str) -> QAction:
        return self.by_id[action_id]

    def update(
        self, capabilities: frozenset[str] | None, model_name: str, conditions: Mapping[str, bool],
        concept: tuple[frozenset[str] | None, str] = (None, ""),
    ) -> None:
        """Enable what the loaded model (``capabilities``; None while none is loaded) and the
        window's ``conditions`` allow; a disabled action's tooltip says what it needs. What
        the concept model does (``CONCEPT_SLOT``) is asked of ``concept``: the capabilities of
        both slots together and the concept model's name."""
        for action_id, spec in self.specs.items():
            reason = ""
            caps, name = concept if spec.needs in CONCEPT_SLOT else (capabilities, model_name)
            if spec.needs is not None and (caps is None or spec.needs not in caps):
                loaded = "no model is loaded" if caps is None else f"{name} is loaded"
                reason = f"Needs {models_with(spec.needs)} ({loaded})" + HINTS.get(spec.needs, "")
            elif spec.when is not None and not conditions.get(spec.when, False):
                reason = CONDITIONS[spec.when]
            action = self.by_id[action_id]
            action.setEnabled(not reason)
            action.setToolTip(reason or spec.tip or spec.text)

    def refusal(self, keys: QKeySequence) -> str | None:
        """Why ``keys`` did nothing: "<action>: <what it needs>" for a disabled action they are
        a shortcut of (Qt drops the keys of disabled actions without a word), else None."""
        for action in self.by_id.values():
            if not action.isEnabled() and any(keys.matches(s) == QKeySequence.SequenceMatch.ExactMatch
                                              for s in action.shortcuts()):
                return f"{action.text()}: {action.toolTip()}"
        return None
