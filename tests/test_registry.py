"""The registry of official checkpoints is consistent and honest about what it does not know."""

from __future__ import annotations

import re

import pytest

from model_runtime import registry
from model_runtime.checkpoints import MOBILESAM, SAM1, SAM2, SAM2_1, SAM3

COST_CLASSES = {registry.FAST, registry.MEDIUM, registry.SLOW, registry.VERY_SLOW}


def test_names_and_files_are_unique():
    names = registry.names()
    assert len(names) == len(set(names))
    files = [spec.filename for spec in registry.REGISTRY]
    assert len(files) == len(set(files))


def test_expected_checkpoints_are_listed():
    expected = {
        "sam_vit_b", "sam_vit_l", "sam_vit_h", "mobile_sam",
        "sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large",
        "sam2_hiera_tiny", "sam2_hiera_small", "sam2_hiera_base_plus", "sam2_hiera_large", "sam3",
    }
    assert expected <= set(registry.names())


@pytest.mark.parametrize("spec", registry.REGISTRY, ids=lambda s: s.name)
def test_entry_is_well_formed(spec):
    assert spec.family in {SAM1, MOBILESAM, SAM2, SAM2_1, SAM3}
    assert spec.cpu_encode_cost in COST_CLASSES
    assert spec.description and spec.licence and spec.digest_source
    if spec.sha256 is not None:
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
    if spec.size is not None:
        assert spec.size > 1_000_000
    if spec.url is not None:
        assert spec.url.startswith("https://") and spec.url.endswith("/" + spec.filename)


def test_official_apache_licences_and_gated_sam3():
    for spec in registry.REGISTRY:
        if spec.family != SAM3:
            assert spec.licence == "Apache-2.0"
    sam3 = registry.get("sam3")
    assert not sam3.downloadable and sam3.sha256 is None


def test_digests_are_distinct():
    digests = [s.sha256 for s in registry.REGISTRY if s.sha256]
    assert len(digests) == len(set(digests))


def test_lookup_by_name_file_and_digest():
    spec = registry.get("sam2.1_hiera_tiny")
    assert registry.find("sam2.1_hiera_tiny.pt") is spec
    assert registry.by_sha256(spec.sha256.upper()) is spec
    assert registry.find("nope") is None


def test_unknown_name_lists_known_names():
    with pytest.raises(registry.UnknownModelError) as err:
        registry.get("sam_vit_x")
    assert "sam_vit_b" in str(err.value) and "sam_vit_x" in str(err.value)
