"""Background workers of the control plane (sync loop, job queue)."""
