"""RPM files: header reading, the lead/signature/header writer, payload entries.
"""
