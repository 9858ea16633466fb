"""The processor's privacy stage: the redacted form of an accepted or rejected action."""

from __future__ import annotations

from typing import Any

from agentaudit.privacy.keys import NeedSubjectKey, SubjectKeys
from agentaudit.privacy.redact import Redactor


class PrivacyStage:
    """Redacts actions for storage; raises NeedSubjectKey, before anything else, when a key must be made first."""

    def __init__(self, redactor: Redactor, keys: SubjectKeys) -> None:
        self.redactor = redactor
        self.keys = keys

    def accepted(self, action: dict[str, Any], partition: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The action as its record stores it, and the record's redaction field."""
        subject = self.redactor.subject_ref(action)
        cipher = None
        tenant = action["tenant_id"]
        if subject is not None and self.redactor.policy.encrypts(tenant):
            cipher = self.keys.cipher(partition, tenant, subject)
            if cipher is None:
                raise NeedSubjectKey(partition, tenant, subject)
        return self.redactor.apply(action, subject, cipher)

    def rejected(self, action: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The action as its rejection keeps it: encrypted fields dropped, since a refused
        (possibly forged) action must not make keys appear for whatever subjects it names."""
        return self.redactor.apply(action, self.redactor.subject_ref(action), None)
