"""The ansible-runner adapter (playbook jobs with streamed events); the only importer of
ansible_runner."""
