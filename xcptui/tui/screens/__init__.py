"""The wizard screen, its step panes and its dialogs."""
