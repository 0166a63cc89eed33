"""The whole install.img API in one import, for callers that load it as one module
(the TUI's optional ``installimg`` engine module, tests, benchmarks).

The code lives in: ``image`` (read side), ``edits`` (edit requests), ``planner``
(``plan``), ``splice_write`` (``write``), ``extract``, ``kernel_rules``.
"""

from __future__ import annotations

from xcptui.engine.initrd.depmod_stage import depmod_input
from xcptui.engine.initrd.edits import (
    SMALL_FILE,
    AddDriver,
    AddDriverSet,
    AddFile,
    AddRpmPayload,
    Edit,
    HostFile,
    RemovePath,
)
from xcptui.engine.initrd.entry import Entry, Segment
from xcptui.engine.initrd.extract import ExtractResult, extract
from xcptui.engine.initrd.image import InstallImage
from xcptui.engine.initrd.kernel_rules import (
    KernelFormatReport,
    check_kernel_format,
    kernel_format_report,
)
from xcptui.engine.initrd.planner import plan
from xcptui.engine.initrd.splice_write import WriteStats, write
from xcptui.engine.initrd.units import ImagePlan

__all__ = [
    "SMALL_FILE", "AddDriver", "AddDriverSet", "AddFile", "AddRpmPayload", "Edit", "Entry",
    "ExtractResult",
    "HostFile", "ImagePlan", "InstallImage", "KernelFormatReport", "RemovePath", "Segment",
    "WriteStats", "check_kernel_format", "depmod_input", "extract", "kernel_format_report",
    "plan", "write",
]
