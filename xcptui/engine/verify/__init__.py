"""Checks of a built ISO, independent of the writer, and the QEMU smoke boot.
"""
