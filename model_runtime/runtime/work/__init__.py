"""Every kind of runtime work, one module each, described as data (:class:`WorkSpec`) plus the
code that runs it:

==============================  ==========  ===========  ========================================
module                          lane        priority     notes
==============================  ==========  ===========  ========================================
``load``                        background  CONTROL      swaps the model
``encode``                      background  CURRENT      BACKGROUND for prefetches
``predict``                     interactive INTERACTIVE  ``click``; newer one per object supersedes
``find_all``                    interactive INTERACTIVE  ``concept``; newer one per object supersedes
``prepare``                     interactive CURRENT      the image shown, for the clicks to come
``segment_everything`` (job)    background  BACKGROUND   ``everything``; streams previews
``track`` (job)                 background  BACKGROUND   ``video``; streams tracked frames
``track_concept`` (jobs)        background  BACKGROUND   ``concept_video``: a phrase tracked, one
                                                         instance re-tracked; keeps the session
``precompute`` (job)            background  BACKGROUND   one image per step
==============================  ==========  ===========  ========================================

Long jobs (:mod:`.job`) run one step at a time and take a priority of their own.
"""
