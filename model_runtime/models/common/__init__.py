"""Components shared by the SAM model families (prompt encoder, two-way transformer, layers)."""
