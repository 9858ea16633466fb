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


class AttributionError(PermanentError):
    """The action cannot be attributed to a registered, active agent identity.

    The action is rejected with this code and reason (and kept, like every
    rejection), and an incident is raised whose severity depends on the code
    (agentaudit.process.incidents). Codes are stable: dashboards, alert routes
    and auditors' queries match on them.

    registered_tenant_id is the tenant the agent is registered to, when the
    agent was found; an incident goes to that tenant even when the action
    claimed another one.
    """

    CODES = frozenset(
        {
            "unknown_agent",  # no definition of the agent as of ingest time
            "unsigned",  # no key_id or no signature
            "unknown_key",  # no key with that id valid at ingest time
            "bad_signature",  # signature does not verify over the canonical form
            "agent_retired",
            "agent_suspended",
            "tenant_mismatch",  # tenant_id differs from the registered tenant
            "replayed_event_id",  # event id already accepted for this agent (SessionTracker)
            "sequence_regression",  # session sequence repeats or goes back (SessionTracker)
        }
    )

    def __init__(self, code: str, reason: str, *, registered_tenant_id: str | None = None) -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown attribution code {code!r}")
        super().__init__(code, reason)
        self.registered_tenant_id = registered_tenant_id
