"""One key, one action: Qt silently ignores a shortcut that two actions share ("ambiguous"), so a
clash between two features' keys would make both keys do nothing."""

from __future__ import annotations

from collections import defaultdict

import pytest
from PySide6.QtGui import QKeySequence

from samdesk.ui.actions import ACTIONS

pytestmark = pytest.mark.gui


def test_no_two_actions_share_a_key(qtbot) -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for spec in ACTIONS:
        for key in spec.shortcuts:
            sequences = (
                QKeySequence.keyBindings(key)
                if isinstance(key, QKeySequence.StandardKey)
                else [QKeySequence(key)]
            )
            for sequence in sequences:
                owners[sequence.toString(QKeySequence.SequenceFormat.PortableText)].append(spec.id)
    shared = {key: ids for key, ids in owners.items() if len(ids) > 1}
    assert not shared, f"keys bound to more than one action: {shared}"
