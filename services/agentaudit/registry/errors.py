"""Why the registry refused a change, and why it refused to read one."""

from __future__ import annotations

from agentaudit.errors import AgentAuditError


class RegistryRefusal(AgentAuditError):
    """A requested change breaks a registry rule; nothing was written.

    code is low-cardinality (for metrics); the message says what to do.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RegistryIntegrityError(AgentAuditError):
    """A stored registry entry does not verify: the registry was altered, or is not ours.

    Readers stop here; an entry is never skipped. position is the entry's
    place in the registry (the one the chain expects when the entry itself
    cannot be read).
    """

    def __init__(self, position: int, problem: str) -> None:
        super().__init__(f"agent registry entry at position {position}: {problem}")
        self.position = position
        self.problem = problem
