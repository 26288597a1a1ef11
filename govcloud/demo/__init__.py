"""``govcloud demo``: the embedded default — a simulated cloud, read back through openstacksdk.

Until the console lands it prints a per-site summary and keeps the simulator running.
"""
