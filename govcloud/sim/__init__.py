"""A simulated three-site OpenStack that speaks the real REST APIs over HTTP.

Standalone: imports nothing from the rest of govcloud; the control plane reaches it only
over HTTP, exactly as it reaches a real cloud. Entry point: ``python -m govcloud.sim serve``.
"""
