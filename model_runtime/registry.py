"""The official checkpoints samdesk knows by name: where they come from and how to check them.

Every entry is a frozen dataclass. URLs, byte sizes and sha256 digests were gathered from public
sources (noted per family below); where no public record of a value was found it is ``None``
and verification of that file reports "unverified" instead of pretending. Nothing here touches
the network or the disk.

CPU encode cost classes come from the official code's encode time on a 2-thread CPU
(/work/shared/REFERENCE-FACTS.md, "Official speed on this CPU"): ``fast`` < 5 s,
``medium`` < 10 s, ``slow`` < 30 s, ``very slow`` >= 30 s. SAM 2 and SAM 2.1 share their
architectures, so they share classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from model_runtime.checkpoints import MOBILESAM, SAM1, SAM2, SAM2_1, SAM3

APACHE_2 = "Apache-2.0"

FAST = "fast"
MEDIUM = "medium"
SLOW = "slow"
VERY_SLOW = "very slow"


@dataclass(frozen=True)
class CheckpointSpec:
    """One official checkpoint file.

    ``url`` is None when the file cannot be fetched automatically (SAM 3 is gated behind a
    Hugging Face licence click-through). ``size`` and ``sha256`` are None when no public record
    of them was found; such files download but are reported as unverified.
    """

    name: str
    family: str
    filename: str
    url: str | None
    size: int | None
    sha256: str | None
    licence: str
    description: str
    cpu_encode_cost: str
    digest_source: str = ""

    @property
    def downloadable(self) -> bool:
        return self.url is not None

    @property
    def verifiable(self) -> bool:
        return self.sha256 is not None


class UnknownModelError(KeyError):
    """A name that is not in the registry. The message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want a plain sentence
        return str(self.args[0])


_SAM1_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
_SAM2_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"
_SAM2_1_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"

# Digest sources (public code and manifests that pin these files, read with the search tools):
# - SAM 1: sizes and sha256 agree across several independent pinned manifests, e.g. a
#   ModelDownload table pinning URL + size + sha256 for all three files, Fooocus-style size
#   lists, and SlicerSegmentWithSAM (mazurowski-lab) for vit_b.
_SAM1_SRC = "pinned manifests (size+sha256 for vit_b/l/h), SlicerSegmentWithSAM"
# - SAM 2.1: sha256 from micro-sam's SAM 2.1 registry (micro_sam/v2 HASHES), repeated in many
#   pinned scripts; sizes from pinned manifests (tiny 156,008,466; small 184,416,285;
#   base+ 323,606,802; large 898,083,611).
_SAM2_1_SRC = "micro-sam v2 HASHES; sizes from pinned download manifests"
# - SAM 2 (July 2024): sha256 from mazurowski-lab/SlicerSegmentWithSAM (downloadFileIntoCache
#   checksums). No public byte sizes were found: size is None (the server's length is used).
_SAM2_SRC = "mazurowski-lab/SlicerSegmentWithSAM checksums; size unknown"
# - MobileSAM: size 40,728,226 and sha256 pinned by several manifests that downloaded
#   weights/mobile_sam.pt from ChaoningZhang/MobileSAM.
_MOBILESAM_SRC = "pinned manifests of ChaoningZhang/MobileSAM weights/mobile_sam.pt"

REGISTRY: tuple[CheckpointSpec, ...] = (
    CheckpointSpec(
        "sam_vit_b", SAM1, "sam_vit_b_01ec64.pth", _SAM1_URL + "sam_vit_b_01ec64.pth",
        375_042_383, "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        APACHE_2, "SAM 1 ViT-B (94 M parameters), the original Segment Anything", SLOW, _SAM1_SRC,
    ),
    CheckpointSpec(
        "sam_vit_l", SAM1, "sam_vit_l_0b3195.pth", _SAM1_URL + "sam_vit_l_0b3195.pth",
        1_249_524_607, "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        APACHE_2, "SAM 1 ViT-L (312 M parameters)", SLOW, _SAM1_SRC,
    ),
    CheckpointSpec(
        "sam_vit_h", SAM1, "sam_vit_h_4b8939.pth", _SAM1_URL + "sam_vit_h_4b8939.pth",
        2_564_550_879, "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        APACHE_2, "SAM 1 ViT-H (641 M parameters), the largest SAM 1", VERY_SLOW, _SAM1_SRC,
    ),
    CheckpointSpec(
        "mobile_sam", MOBILESAM, "mobile_sam.pt",
        "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
        40_728_226, "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
        APACHE_2, "MobileSAM (TinyViT, 10 M parameters): distilled from SAM 1, quick on CPU", FAST,
        _MOBILESAM_SRC,
    ),
    CheckpointSpec(
        "sam2.1_hiera_tiny", SAM2_1, "sam2.1_hiera_tiny.pt", _SAM2_1_URL + "sam2.1_hiera_tiny.pt",
        156_008_466, "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
        APACHE_2, "SAM 2.1 Hiera-T (39 M parameters): images and video, the CPU default", FAST,
        _SAM2_1_SRC,
    ),
    CheckpointSpec(
        "sam2.1_hiera_small", SAM2_1, "sam2.1_hiera_small.pt", _SAM2_1_URL + "sam2.1_hiera_small.pt",
        184_416_285, "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
        APACHE_2, "SAM 2.1 Hiera-S (46 M parameters)", FAST, _SAM2_1_SRC,
    ),
    CheckpointSpec(
        "sam2.1_hiera_base_plus", SAM2_1, "sam2.1_hiera_base_plus.pt",
        _SAM2_1_URL + "sam2.1_hiera_base_plus.pt",
        323_606_802, "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
        APACHE_2, "SAM 2.1 Hiera-B+ (81 M parameters)", MEDIUM, _SAM2_1_SRC,
    ),
    CheckpointSpec(
        "sam2.1_hiera_large", SAM2_1, "sam2.1_hiera_large.pt", _SAM2_1_URL + "sam2.1_hiera_large.pt",
        898_083_611, "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
        APACHE_2, "SAM 2.1 Hiera-L (224 M parameters), the most accurate SAM 2.1", SLOW, _SAM2_1_SRC,
    ),
    CheckpointSpec(
        "sam2_hiera_tiny", SAM2, "sam2_hiera_tiny.pt", _SAM2_URL + "sam2_hiera_tiny.pt",
        None, "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125",
        APACHE_2, "SAM 2 (July 2024) Hiera-T; superseded by SAM 2.1", FAST, _SAM2_SRC,
    ),
    CheckpointSpec(
        "sam2_hiera_small", SAM2, "sam2_hiera_small.pt", _SAM2_URL + "sam2_hiera_small.pt",
        None, "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3",
        APACHE_2, "SAM 2 (July 2024) Hiera-S; superseded by SAM 2.1", FAST, _SAM2_SRC,
    ),
    CheckpointSpec(
        "sam2_hiera_base_plus", SAM2, "sam2_hiera_base_plus.pt", _SAM2_URL + "sam2_hiera_base_plus.pt",
        None, "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071",
        APACHE_2, "SAM 2 (July 2024) Hiera-B+; superseded by SAM 2.1", MEDIUM, _SAM2_SRC,
    ),
    CheckpointSpec(
        "sam2_hiera_large", SAM2, "sam2_hiera_large.pt", _SAM2_URL + "sam2_hiera_large.pt",
        None, "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b",
        APACHE_2, "SAM 2 (July 2024) Hiera-L; superseded by SAM 2.1", SLOW, _SAM2_SRC,
    ),
    CheckpointSpec(
        # Gated on Hugging Face (facebook/sam3): the user must accept the SAM License there and
        # download by hand, then `samdesk models add sam3.pt`. No public digest is recorded.
        "sam3", SAM3, "sam3.pt", None, None, None,
        "SAM License", "SAM 3 (860 M parameters): text and exemplar prompts; a GPU model", VERY_SLOW,
        "gated download; no public digest",
    ),
)

_BY_NAME = {spec.name: spec for spec in REGISTRY}


def names() -> list[str]:
    """Registry names in display order."""
    return [spec.name for spec in REGISTRY]


def find(name: str) -> CheckpointSpec | None:
    """The entry called ``name`` (or whose file name is ``name``), or None."""
    spec = _BY_NAME.get(name)
    if spec is not None:
        return spec
    return by_filename(name)


def get(name: str) -> CheckpointSpec:
    """The entry called ``name``; UnknownModelError listing the known names otherwise."""
    spec = find(name)
    if spec is None:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(names())}")
    return spec


def by_filename(filename: str) -> CheckpointSpec | None:
    """The entry whose official file name is ``filename`` (no directory), or None."""
    for spec in REGISTRY:
        if spec.filename == filename:
            return spec
    return None


def by_sha256(digest: str) -> CheckpointSpec | None:
    """The entry whose recorded sha256 is ``digest``, or None."""
    digest = digest.lower()
    for spec in REGISTRY:
        if spec.sha256 == digest:
            return spec
    return None
