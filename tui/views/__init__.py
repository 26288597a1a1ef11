"""The console's views: one module per view, each registering itself (``tui.registry``)."""
