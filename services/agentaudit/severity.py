"""The one severity scale of rules, incidents and alert routes (the Incident schema's Severity enum)."""

SEVERITIES = ("info", "low", "medium", "high", "critical")
"""Severity names in rising order; a rule's severity routes its incident."""

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
