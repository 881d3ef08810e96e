"""SAM 2 / SAM 2.1 (Hiera tiny, small, base+, large), our own implementation.

Loads the official ``sam2_hiera_*.pt`` / ``sam2.1_hiera_*.pt`` files unchanged (every key,
strictly) and reproduces the official ``SAM2ImagePredictor``.

Modules, one concept each:
    config.py            per-size dataclass configs; size detection from tensor shapes
    hiera.py             the Hiera trunk (windowed / global attention, query pooling)
    neck.py              FPN neck + ``ImageEncoder`` (trunk + neck, scalp of the stride-32 level)
    position_encoding.py the sine encodings of the neck and the memory encoder
    mask_decoder.py      SAM 2 mask decoder (high-res skips, object score, stability fall-back)
    memory_encoder.py    video: mask + features -> 64-channel memory
    memory_attention.py  video: RoPE attention of the current frame to memories and pointers
                         (official-interface forward, and forward_banks over cached projections)
    rope.py              video: axial 2-D rotary position encoding
    frame_sources.py     video: lazy frame sources (arrays, image folder, video file) and the
                         video-frame preprocessing
    video_features.py    video: one frame's image features, shared by tracking and clicks
    tracker.py           video: ``FrameTracker``, the network's work on one frame for a batch
                         of objects (memory conditioning, decoder, memory encoding)
    video.py             video: ``VideoSession`` (``Sam2ImageModel.open_video``): prompts on any
                         frame, propagation both ways, corrections, many objects, bounded state
    network.py           ``Sam2Network``: all of the above under the official key names
    transforms.py        image pre-processing and prompt coordinates
    model.py             ``Sam2ImageModel`` (``ImageModel``) and ``from_state_dict``

A video predictor builds on ``Sam2Network``: its ``memory_encoder``, ``memory_attention``,
``obj_ptr_proj``, ``obj_ptr_tpos_proj``, ``mask_downsample``, ``maskmem_tpos_enc``,
``no_mem_embed``/``no_mem_pos_enc``, ``no_obj_ptr`` and ``no_obj_embed_spatial`` are loaded and
the two memory modules' forwards match the official ones (tests/test_sam2_units.py).
"""
