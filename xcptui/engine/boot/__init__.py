"""Boot configurations: isolinux.cfg and grub.cfg parse/edit/compare, and answerfiles.
"""
