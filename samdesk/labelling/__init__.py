"""Batch labelling: a phrase set (SAM 3's find all) or segment everything over many images.

Qt-free; ``samdesk label`` (``samdesk/subcommands/label.py``) drives it, and the GUI's "run on all
images" can drive the same pieces. Model work and project work are kept apart, so the model
part can run anywhere (the local runtime, or Ray workers on a cluster):

- :mod:`~samdesk.labelling.request`: what to find (:class:`LabelRequest`: phrases or segment
  everything, threshold, sweep settings) — all a worker needs besides the model and the image
- :mod:`~samdesk.labelling.found`: one image labelled by a model (:func:`label_steps` →
  :class:`ImageLabels`, masks already RLE-encoded, so results are small to move around)
- :mod:`~samdesk.labelling.store`: what was run on each image and the results waiting for
  review, kept in the project's settings (``settings["labelling"]``, docs/project-format.md)
- :mod:`~samdesk.labelling.apply`: one image's labels into the document in one undoable step
  (categories per phrase, duplicates of existing objects skipped)
- :mod:`~samdesk.labelling.run`: a whole run: the images still to do, results applied in image
  order, atomic saves, the summary
- :mod:`~samdesk.labelling.local` and :mod:`~samdesk.labelling.cluster`: run the model part on
  this machine's runtime, or on a Ray cluster (Ray is imported only there)
"""
