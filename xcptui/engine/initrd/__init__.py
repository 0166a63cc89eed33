"""install.img: compression codecs, bzip2 blocks, newc cpio, kernel modules, and the
image's read side, edit planning, splice writer and extraction.
"""
