"""The query API (`agentaudit api`): audit data over HTTP for analysts, auditors and admins.

keys and access hold the pure rules (key format, roles, tenant scope);
keystore and reads keep keys and the access log in ClickHouse; actions, trace
and views build the answers; routes declares every endpoint once (handlers,
parameters, OpenAPI); server is the aiohttp application around them.
"""
