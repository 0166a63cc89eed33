"""Comparing two ISOs the way an XCP-ng admin reads them (``xcptui diff A.iso B.iso``).

This package owns the comparison and its result: ISO files (``iso_files``), the
entries inside install.img grouped per kernel tree (``image``), Packages/ by NEVRA and
xcp-ng-deps Requires (``packages``), boot menu entries by parameter (``boot``),
.treeinfo keys (``treeinfo``), and the typed report with ``lines()`` / ``to_json()``
(``model``). ``compare.diff_isos`` runs them all. It only reads: both ISOs are opened
read-only and nothing is written anywhere but temporary files of the readers.
"""
