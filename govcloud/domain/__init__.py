"""The pure core: plain types and rules, no I/O and no vendor SDKs (enforced by import-linter)."""
