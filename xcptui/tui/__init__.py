"""The Textual wizard. Everything here drives the headless engine in xcptui.engine."""
