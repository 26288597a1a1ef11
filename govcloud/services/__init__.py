"""Use cases (tenancy, sync, capacity, provisioning, migration, DR, reports, audit).

Services combine the domain with the store and the adapters; clients never skip them.
"""
