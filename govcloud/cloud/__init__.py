"""The OpenStack adapter: the only code that imports openstacksdk or keystoneauth1.

It hands domain types back; SDK objects never leak past it.
"""
