"""Headless engine: everything xcptui does, with no UI imports.

The TUI and the CLI are thin layers over this package. Nothing here may import
textual or rich (enforced by tests/test_import_hygiene.py).
"""
