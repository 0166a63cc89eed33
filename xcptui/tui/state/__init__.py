"""What the TUI remembers: the opened ISO and its recipe, and the state directory."""
