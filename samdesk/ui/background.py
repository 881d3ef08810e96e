"""Long file work (open, import, export) on the runtime's background thread, with progress and
Cancel, while the GUI thread keeps serving the user.

:meth:`BackgroundJobs.run` submits a :class:`model_runtime.runtime.Job` through the bridge and
shows a progress dialog once the job has taken a moment; the dialog's Cancel stops the job
(after the step in progress) and nothing more is delivered for it. Progress comes from the
job's steps (the bridge's ``progressed``) or, inside one long step (an exporter), from the
``report(done, total)`` callable given to the job's maker, which any thread may call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from model_runtime.runtime import Job
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session.file_jobs import Report

SHOW_AFTER_MS = 400  # quick jobs finish without a dialog flashing up


@dataclass
class _Task:
    on_done: Callable[[Any], None]
    on_failed: Callable[[BaseException], None]
    on_partial: Callable[[Any], None] | None
    on_cancelled: Callable[[], None] | None
    dialog: QProgressDialog
    request_id: int = 0


class BackgroundJobs(QObject):
    """Runs jobs for one window; see the module docstring."""

    _reported = Signal(object, int, int)  # _Task, done, total; emitted on the runtime's thread

    def __init__(self, bridge: RuntimeBridge, parent: QWidget) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self._parent = parent
        self._tasks: dict[int, _Task] = {}
        self._reported.connect(self._report_arrived, Qt.ConnectionType.QueuedConnection)
        bridge.progressed.connect(self._progressed)
        bridge.partial.connect(self._partial)
        bridge.jobFinished.connect(self._finished)
        bridge.failed.connect(self._failed)

    @property
    def busy(self) -> bool:
        """Whether a job started here is still running."""
        return bool(self._tasks)

    def run(
        self,
        job: Job | Callable[[Report], Job],
        text: str,
        on_done: Callable[[Any], None],
        on_failed: Callable[[BaseException], None],
        *,
        on_partial: Callable[[Any], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
    ) -> int:
        """Start ``job`` (or ``job(report)``, for a job that reports from inside a step);
        ``text`` labels the progress dialog. Later, on the GUI thread, ``on_partial`` gets each
        partial result, then exactly one of ``on_done(result)``, ``on_failed(error)`` or
        ``on_cancelled()`` is called. Returns the request id."""
        dialog = QProgressDialog(text, "Cancel", 0, 0, self._parent)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(SHOW_AFTER_MS)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        task = _Task(on_done, on_failed, on_partial, on_cancelled, dialog)
        if not isinstance(job, Job):
            job = job(lambda done, total: self._reported.emit(task, int(done), int(total)))
        try:
            task.request_id = self.bridge.run_job(job)
        except Exception:
            dialog.deleteLater()
            raise
        self._tasks[task.request_id] = task
        dialog.canceled.connect(lambda: self.cancel(task.request_id))
        return task.request_id

    def cancel(self, request_id: int) -> None:
        """Stop the job after its current step; nothing more is delivered for it."""
        task = self._tasks.pop(request_id, None)
        if task is None:
            return
        self.bridge.cancel(request_id)
        self._close(task)
        if task.on_cancelled is not None:
            task.on_cancelled()

    def cancel_all(self) -> None:
        for request_id in list(self._tasks):
            self.cancel(request_id)

    # --- deliveries, on the GUI thread -------------------------------------------------------
    def _report_arrived(self, task: _Task, done: int, total: int) -> None:
        if self._tasks.get(task.request_id) is task:
            self._show_progress(task, done, total)

    def _progressed(self, request_id: int, done: int, total: int) -> None:
        task = self._tasks.get(request_id)
        if task is not None:
            self._show_progress(task, done, total)

    def _partial(self, request_id: int, value: Any) -> None:
        task = self._tasks.get(request_id)
        if task is not None and task.on_partial is not None:
            task.on_partial(value)

    def _finished(self, request_id: int, result: Any) -> None:
        task = self._tasks.pop(request_id, None)
        if task is not None:
            self._close(task)
            task.on_done(result)

    def _failed(self, request_id: int, error: BaseException) -> None:
        task = self._tasks.pop(request_id, None)
        if task is not None:
            self._close(task)
            task.on_failed(error)

    @staticmethod
    def _show_progress(task: _Task, done: int, total: int) -> None:
        if total > 0:
            task.dialog.setMaximum(total)
            task.dialog.setValue(min(done, total))

    def _close(self, task: _Task) -> None:
        had_focus = task.dialog.isActiveWindow()
        task.dialog.canceled.disconnect()
        task.dialog.close()
        task.dialog.deleteLater()
        if had_focus:
            # Keys go back to the window (its shortcuts need it active), as a window manager
            # would do; without one (offscreen, some remote desktops) nothing else does.
            self._parent.activateWindow()
