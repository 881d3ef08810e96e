"""SAM 3 ("Segment Anything with Concepts"), our own implementation.

Loads the official ``sam3.pt`` unchanged (``detector.*`` and ``tracker.*`` keys) and reproduces
the official ``Sam3Processor`` (PyPI ``sam3``, a test-only oracle).

Modules, one concept each:
    features.py          what the encoders hand on: ``VisionFeatures`` (both necks) and
                         ``TextFeatures``, named as the official ``forward_image``/``forward_text``
    position_encoding.py sine encodings of feature grids, boxes and points
    transforms.py        image pre-processing (squash to 1008², antialiased bilinear on uint8)
    vit.py               the ViT-L/14 trunk (window + global attention, 2-D axial RoPE)
    neck.py              the dual simple-FPN neck (detector and tracker levels)
    tokenizer.py         CLIP byte-pair tokenizer, context 32
    text_encoder.py      causal text transformer + resizer to d_model
    encoders.py          ``Sam3Encoders``: both encoders under the official ``backbone`` key names,
                         ``encode_image`` and ``forward_text`` (features cached per phrase)
    interactive.py       clicks / boxes / mask refinement through the tracker's prompt encoder and
                         mask decoder (SAM 2's, at 72² / 288²), as the official ``predict_inst``
    assets/              the CLIP merges file (bundled; MIT, see assets/LICENSES.md)
    config.py            dataclass configs; sizes detected from tensor shapes
    checkpoint.py        reading and splitting ``sam3.pt`` with clear errors per missing part
    attention.py         multi-head attention with nn.MultiheadAttention's weights, through SDPA
    encoder_layer.py     the pre-norm layer of the fusion and exemplar encoders
    roi_align.py         RoIAlign (torchvision's maths) in plain PyTorch, for exemplar pooling
    geometry_encoder.py  exemplar boxes -> prompt tokens
    fusion_encoder.py    image tokens attend to themselves and to the prompt tokens
    decoder.py           200 queries + presence token -> refined boxes (box relative-position bias)
    scoring.py           query logits: queries against the pooled prompt
    segmentation_head.py pixel decoder and instance masks for chosen queries only
    detector.py          the detector network (keys under ``detector.``), per-image context
    postprocess.py       scores, pixel boxes and lazily made masks -> ``Instances``
"""
