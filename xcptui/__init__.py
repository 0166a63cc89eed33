"""xcptui: customise XCP-ng installation ISOs without root."""

__version__ = "0.1.0"
