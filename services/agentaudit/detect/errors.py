"""The detection stage's own error: a rule or its configuration is wrong."""

from __future__ import annotations

from agentaudit.errors import ConfigError


class RuleError(ConfigError):
    """A rule file or the detection config is invalid; raised at load, never mid-stream.

    where names the file (and, when known, the key inside it) so the author can
    fix it without guessing; nothing invalid is ever skipped silently.
    """

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message
