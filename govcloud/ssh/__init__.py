"""The paramiko adapter (legacy-host surveys, strict host keys); the only importer of paramiko."""
