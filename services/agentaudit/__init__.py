"""agentaudit: an event-streaming audit pipeline that makes AI agents auditable.

Data flows emit -> process (validate, attribute, chain, score) -> sink -> query;
each stage is a subpackage. Shared pieces live beside them: settings, topics,
errors, codec, metrics.
"""

__version__ = "0.1.0"
