"""The project's exception tree.

Permanent errors are about the input: the message is rejected with its reason
and original bytes, and the pipeline carries on. Transient errors are about the
world (a broker or database that did not answer): back off, retry, and do not
commit offsets. Configuration errors stop a service before it starts.
"""

from __future__ import annotations


class AgentAuditError(Exception):
    """Root of every error raised by agentaudit."""


class ConfigError(AgentAuditError):
    """A setting is missing or invalid; raised at start-up, never mid-stream."""


class TransientError(AgentAuditError):
    """Retry later; the input is fine but a dependency did not answer."""


class PermanentError(AgentAuditError):
    """The input can never be processed; reject it and keep it."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class DecodeError(PermanentError):
    """The bytes are not a message of any schema we know."""


class ValidationError(PermanentError):
    """The message decoded, but a field breaks a rule of the audit record."""
