"""The ISO's package repository: Packages/, repodata, the libsolv dependency check,
signing, xcp-ng-deps, and .treeinfo (its only parser).
"""
