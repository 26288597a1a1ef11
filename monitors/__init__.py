"""Prometheus collector and exporter wiring, health probes, and alert rules (``rules/``)."""
