"""The video timeline: a lane per object under the canvas (``view``) and the part that keeps it
in step with the document and the session, with the frame review (``part``)."""
