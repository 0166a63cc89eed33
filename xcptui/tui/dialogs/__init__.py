"""Modal screens: errors, choices, inputs, the driver and repository dialogs, help."""
