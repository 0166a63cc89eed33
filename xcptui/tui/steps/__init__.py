"""The wizard: its frame (``wizard``) and one module per step, in order."""
