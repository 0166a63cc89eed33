"""The ISO file itself: read-only access (pycdlib), writing, the hybrid MBR/GPT, the
grub.cfg inside boot/efiboot.img, and the volume id.
"""
