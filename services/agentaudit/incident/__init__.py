"""Incidents: grouping rule hits, their lifecycle, storage and the incidents command."""
