"""The annotation session without widgets: what is on screen, the object being built, edits.

Qt-free (an import-linter contract in ``pyproject.toml`` keeps it so): the GUI calls it and
repaints when its listeners fire; tests drive a whole session without a display.

- :mod:`~samdesk.session.controller`: :class:`AnnotationController`, the session itself
- :mod:`~samdesk.session.navigation`: which image and frame are on screen
- :mod:`~samdesk.session.pending`: the pending object, its candidates and its undo
- :mod:`~samdesk.session.instances`: many objects proposed at once (find-all, segment everything)
- :mod:`~samdesk.session.edits` and :mod:`~samdesk.session.mask_ops`: hand edits of masks
- :mod:`~samdesk.session.requests`: what the session asks of the model side
"""

from samdesk.session.controller import AnnotationController
from samdesk.session.instances import PendingInstances
from samdesk.session.pending import Candidates, Pending
from samdesk.session.requests import PredictionService, PredictRequest

__all__ = [
    "AnnotationController",
    "Candidates",
    "Pending",
    "PendingInstances",
    "PredictRequest",
    "PredictionService",
]
