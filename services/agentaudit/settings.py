"""One frozen, validated settings object, read from the environment in one place.

Every setting is declared once, with its environment variable (prefix
AGENTAUDIT_), its default and what it is for; services receive the object
explicitly and never read the environment themselves.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentaudit.errors import ConfigError

ENV_PREFIX = "AGENTAUDIT_"
SECRET_FIELDS = frozenset({"kek"})
RETENTION_FLOOR_DAYS = 365  # the SOC 2 audit period: the shortest retention accepted without forcing
RETENTION_DEFAULT_DAYS = 400  # the floor plus a margin for the audit itself to run
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    home: Path = _setting(Path("var"), "Folder for local state: broker data, embedded ClickHouse, logs.")
    kafka_bootstrap: str = _setting(
        "", "Kafka bootstrap servers; empty means the local broker started by `agentaudit dev kafka up`."
    )
    topic_prefix: str = _setting("", "Prefix for every physical topic name (one pipeline per prefix).")
    partitions: int = _setting(4, "Partitions of every pipeline topic (the processor replicas' upper bound).")
    replication_factor: int = _setting(1, "Replication factor of topics the pipeline creates (3 on a real cluster).")
    clickhouse_dsn: str = _setting(
        "", "ClickHouse: http(s)://user:pass@host:port for a server, chdb:///path for embedded; "
        "empty means embedded under HOME/clickhouse."
    )
    clickhouse_database: str = _setting("agentaudit", "ClickHouse database holding the audit tables.")
    schema_registry_url: str = _setting(
        "", "Confluent-compatible schema registry; empty means Avro single-object encoding."
    )
    max_action_bytes: int = _setting(1024 * 1024, "Largest action accepted; larger ones are rejected.")
    max_future_skew_s: float = _setting(300.0, "How far ahead of ingest time an agent clock may run.")
    max_past_skew_s: float = _setting(86400.0, "How far behind ingest time an agent clock may lag.")
    process_batch: int = _setting(2000, "Processor: most actions handled per batch.")
    process_within_s: float = _setting(0.05, "Processor: longest wait to fill a batch.")
    seal_every_records: int = _setting(1000, "Seal an agent's chain after this many records.")
    seal_interval_s: float = _setting(
        300.0, "Seal every agent's chain at least this often, also when idle (whole seconds, at least 1)."
    )
    sink_batch: int = _setting(20000, "Sink: most rows per ClickHouse insert.")
    sink_linger_s: float = _setting(0.5, "Sink: longest wait to fill a batch before inserting.")
    rejection_alarm_ratio: float = _setting(
        0.5, "Rejected share of a processor batch of 100+ actions that raises the rejection alarm."
    )
    detect_rules: str = _setting(
        "packaged", "Detection rules: 'packaged' (the rules shipped with agentaudit), a folder of rule files, "
        "or 'off' (records are stored unscored)."
    )
    detect_config: str = _setting(
        "", "Detection configuration YAML: per-tenant time zones, business hours, budgets and incident thresholds; "
        "empty for the defaults."
    )
    metrics_port: int = _setting(0, "Port for the Prometheus /metrics endpoint; 0 picks a free one, -1 turns it off.")
    metrics_host: str = _setting(
        "127.0.0.1", "Address /metrics listens on; 0.0.0.0 only where a scraper on another host must reach it."
    )
    # --- query API
    api_host: str = _setting("127.0.0.1", "Address the query API (`agentaudit api serve`) listens on.")
    api_port: int = _setting(8480, "Port of the query API.")
    api_workers: int = _setting(
        4, "Query API: ClickHouse threads for a server (the embedded engine always uses one)."
    )
    api_tls_cert: str = _setting(
        "", "Query API: PEM certificate (chain) to serve HTTPS; empty serves plain HTTP for a TLS proxy in front."
    )
    api_tls_key: str = _setting("", "Query API: PEM private key of AGENTAUDIT_API_TLS_CERT (mode 0600).")
    api_row_policies: bool = _setting(
        False, "Query API: send each request's tenant scope as SQL_agentaudit_tenants, which the server's row "
        "filters for the api account enforce (deploy/clickhouse); needs a ClickHouse server, not chDB."
    )
    # --- retention (issue 5): how long audit rows are kept, enforced by table TTLs
    retention_days: int = _setting(
        RETENTION_DEFAULT_DAYS,
        f"Days audit rows are kept (the audit tables' TTL, applied by `agentaudit db migrate`; verify treats "
        f"only data older than this as expired). Below {RETENTION_FLOOR_DAYS} (the SOC 2 audit period) is "
        "refused unless AGENTAUDIT_RETENTION_FORCE is true.",
    )
    retention_force: bool = _setting(
        False, f"Accept AGENTAUDIT_RETENTION_DAYS below {RETENTION_FLOOR_DAYS}; logged loudly and recorded in "
        "retention_changes by `agentaudit db migrate`."
    )
    # --- the SOC 2 evidence pack (`agentaudit report`)
    chromium: str = _setting(
        "", "Chromium (or Chrome) that prints `agentaudit report --format pdf`; empty: the first of chromium, "
        "chromium-browser, google-chrome on PATH."
    )
    # --- registry and keys
    # The KEK seals agents' HMAC secrets and the pipeline's private keys at rest.
    # It is a secret: kept out of repr() and to_env(), never logged.
    kek: str = field(
        default="", repr=False,
        metadata={"doc": "Key-encryption key: base64 of 32 random bytes, injected by a secret manager. "
                         "Prefer AGENTAUDIT_KEK_FILE; never logged or passed on by to_env()."},
    )
    kek_file: str = _setting(
        "", "File holding the key-encryption key (base64 of 32 bytes), readable by its owner only (mode 0600)."
    )
    # --- privacy (agentaudit.privacy): redaction before storage, per-subject keys
    privacy_policy: str = _setting(
        "", "Redaction policy YAML (fields to drop, mask, hash or encrypt per tenant), applied by the processor "
        "before anything is stored; empty: actions are stored as emitted. Example: deploy/privacy/policy.example.yaml."
    )

    def __post_init__(self) -> None:
        if self.partitions < 1 or self.replication_factor < 1:
            raise ConfigError("AGENTAUDIT_PARTITIONS and AGENTAUDIT_REPLICATION_FACTOR must be at least 1")
        if not 1024 <= self.max_action_bytes <= 16 * 1024 * 1024:
            raise ConfigError("AGENTAUDIT_MAX_ACTION_BYTES must be between 1 KiB and 16 MiB")
        if self.max_future_skew_s <= 0 or self.max_past_skew_s <= 0:
            raise ConfigError("clock skew limits must be positive")
        if self.process_batch < 1 or self.sink_batch < 1:
            raise ConfigError("batch sizes must be at least 1")
        if self.seal_every_records < 1 or self.seal_interval_s < 1 or self.seal_interval_s != int(self.seal_interval_s):
            raise ConfigError("AGENTAUDIT_SEAL_EVERY_RECORDS must be 1+ and AGENTAUDIT_SEAL_INTERVAL_S whole seconds, 1+")
        if not 0 < self.rejection_alarm_ratio <= 1:
            raise ConfigError("AGENTAUDIT_REJECTION_ALARM_RATIO must be in (0, 1]")
        dsn = self.clickhouse_dsn
        if dsn and not dsn.startswith(("chdb://", "http://", "https://")):
            raise ConfigError(f"AGENTAUDIT_CLICKHOUSE_DSN must start with chdb://, http:// or https://, not {dsn.split(':')[0]!r}")
        if not self.clickhouse_database.replace("_", "").isalnum():
            raise ConfigError("AGENTAUDIT_CLICKHOUSE_DATABASE must be letters, digits and underscores")
        if not 1 <= self.api_workers <= 64 or not 0 <= self.api_port <= 65535:
            raise ConfigError("AGENTAUDIT_API_WORKERS must be 1..64 and AGENTAUDIT_API_PORT 0..65535")
        if self.api_row_policies and self.clickhouse_url.startswith("chdb://"):
            raise ConfigError("AGENTAUDIT_API_ROW_POLICIES needs a ClickHouse server: embedded chDB has no custom "
                              "settings for the row filters to read")
        if bool(self.api_tls_cert) != bool(self.api_tls_key):
            raise ConfigError("set both AGENTAUDIT_API_TLS_CERT and AGENTAUDIT_API_TLS_KEY, or neither")
        if not 1 <= self.retention_days <= 36_500:
            raise ConfigError("AGENTAUDIT_RETENTION_DAYS must be between 1 and 36500 days")
        if self.retention_days < RETENTION_FLOOR_DAYS and not self.retention_force:
            raise ConfigError(
                f"AGENTAUDIT_RETENTION_DAYS={self.retention_days} is shorter than the {RETENTION_FLOOR_DAYS} days "
                "SOC 2 auditors expect audit records to be kept; set AGENTAUDIT_RETENTION_FORCE=true to accept "
                "it anyway (every change of a table's TTL is recorded in retention_changes)"
            )
        if self.kek and self.kek_file:
            raise ConfigError("set AGENTAUDIT_KEK or AGENTAUDIT_KEK_FILE, not both: which key is in use must be unambiguous")
        if self.kek:
            from agentaudit.crypto.kek import decode_kek  # lazily: keeps cryptography out of --help

            decode_kek(self.kek, "AGENTAUDIT_KEK")  # its form only; the file is read when a key is needed

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from AGENTAUDIT_* variables; overrides win over the environment."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            kind: type = type(f.default)
            if kind is bool:
                # bool("false") is True: read the words people write instead
                if raw.lower() not in _TRUE | _FALSE:
                    raise ConfigError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: expected true or false")
                values[f.name] = raw.lower() in _TRUE
                continue
            try:
                values[f.name] = kind(raw)
            except ValueError as exc:
                raise ConfigError(f"{ENV_PREFIX}{f.name.upper()}={raw!r}: expected {kind.__name__}") from exc
        values.update(overrides)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """These settings as AGENTAUDIT_* variables, to hand to a child process.

        The KEK itself is left out (SECRET_FIELDS): environments get printed and
        logged. A child that needs it inherits AGENTAUDIT_KEK from the parent's
        own environment, or reads AGENTAUDIT_KEK_FILE, which is passed on.
        """
        return {
            ENV_PREFIX + f.name.upper(): str(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in SECRET_FIELDS
        }

    def with_changes(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def clickhouse_url(self) -> str:
        return self.clickhouse_dsn or f"chdb://{(self.home / 'clickhouse').resolve()}"

    def topic(self, logical: Any) -> str:
        """Physical name of a logical Topic."""
        return str(logical.physical(self.topic_prefix))


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, doc) for every setting, for --help and README."""
    return [
        (ENV_PREFIX + f.name.upper(), str(f.default), f.metadata["doc"])
        for f in dataclasses.fields(Settings)
    ]
