"""The Textual ops console (``govcloud tui``)."""
