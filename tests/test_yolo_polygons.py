"""The pieces of a YOLO outline: specks, joining rings along a spanning tree, filling as Ultralytics."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from samdesk.document import masks
from samdesk.io import yolo_polygons
from samdesk.io.yolo_polygons import fill, join_rings, mask_outline, without_specks


def _rings(mask: np.ndarray) -> list[np.ndarray]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    return [c[:, 0, :].astype(np.int64) for c in contours]


def test_specks_go_the_largest_part_stays_however_small() -> None:
    crop = np.zeros((20, 20), bool)
    crop[2:5, 2:5] = True  # 9 px: the largest part, kept although under 16
    crop[10, 10] = crop[15, 3] = True
    kept, islands, filled = without_specks(crop, 16)
    assert (islands, filled) == (2, 0) and kept.sum() == 9
    ring = np.zeros((30, 30), bool)
    ring[2:28, 2:28] = True
    ring[5:8, 5:8] = False  # 9 px hole: filled
    ring[12:20, 12:20] = False  # 64 px hole: kept
    kept, islands, filled = without_specks(ring, 16)
    assert (islands, filled) == (0, 1) and not kept[12:20, 12:20].any() and kept[5:8, 5:8].all()


def test_a_joined_outline_fills_back_to_the_mask_holes_included() -> None:
    ring = np.zeros((80, 80), np.uint8)
    cv2.circle(ring, (40, 40), 30, 1, -1)
    cv2.circle(ring, (40, 40), 10, 0, -1)
    assert len(_rings(ring)) == 2
    # The link from the hole to the outline runs through the ring itself: exact.
    assert np.array_equal(fill([join_rings(_rings(ring))], ring.shape), ring.astype(bool))
    island = ring.copy()
    cv2.rectangle(island, (37, 37), (43, 43), 1, -1)  # a part inside the hole
    island = island.astype(bool)
    drawn = fill([join_rings(_rings(island))], island.shape)
    # Its link crosses the hole's background (about 6 px from the island to the hole's edge).
    assert not (island & ~drawn).any() and 0 < np.count_nonzero(drawn & ~island) <= 6


def _tree_length(rings: list[np.ndarray], children: dict) -> float:
    total = 0.0
    for (parent, vertex), kids in children.items():
        for child, child_vertex in kids:
            total += float(np.hypot(*(rings[parent][vertex] - rings[child][child_vertex])))
    return total


def _brute_force_mst(rings: list[np.ndarray]) -> float:
    """Shortest total link length over every spanning tree (Prim on the full distance table)."""
    n = len(rings)
    d = np.zeros((n, n))
    for i, j in itertools.combinations(range(n), 2):
        d[i, j] = d[j, i] = np.sqrt(min(((a - b) ** 2).sum() for a in rings[i] for b in rings[j]))
    inside, total = {0}, 0.0
    while len(inside) < n:
        cost, j = min((d[i, j], j) for i in inside for j in range(n) if j not in inside)
        inside.add(j)
        total += cost
    return total


def test_few_parts_are_joined_by_the_shortest_links() -> None:
    rng = np.random.default_rng(3)
    mask = np.zeros((120, 160), np.uint8)
    for _ in range(6):
        x, y = rng.integers(10, 150), rng.integers(10, 110)
        cv2.circle(mask, (int(x), int(y)), int(rng.integers(3, 8)), 1, -1)
    rings = _rings(mask)
    children = yolo_polygons.spanning_tree(rings)
    assert sum(len(k) for k in children.values()) == len(rings) - 1
    assert _tree_length(rings, children) == pytest.approx(_brute_force_mst(rings))


def test_a_mask_in_hundreds_of_parts_measures_few_ring_distances(monkeypatch) -> None:
    """Each part is compared with its nearest few, not with every other part."""
    mask = np.zeros((400, 400), bool)
    for y in range(5, 395, 20):
        for x in range(5, 395, 20):
            mask[y : y + 5, x : x + 5] = True
    parts = int(mask.sum()) // 25
    calls = []
    closest = yolo_polygons.closest_vertices
    monkeypatch.setattr(yolo_polygons, "closest_vertices", lambda a, b: calls.append(1) or closest(a, b))
    outline = mask_outline(masks.encode(mask), 16, 1.0)
    assert outline is not None and outline.parts == parts == 400
    assert len(calls) <= 8 * parts  # every pair would be 79800
    assert np.array_equal(fill([outline.points], mask.shape) & mask, mask)
