"""The ClickHouse client factory and the mapping of driver errors onto ours.

Error contract (PEP 249, as clickhouse-connect raises it): OperationalError
(connection refused, timeout, a server that went away) is TransientError:
back off, retry, do not commit offsets. A server error whose code means "busy,
try later" (too many parts, memory limit, ...) is transient as well. Anything
else (DataError, ProgrammingError, an unknown table, ...) is permanent and is
raised as a StoreError: retrying the same statement cannot help.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from clickhouse_connect.driver.exceptions import Error as DriverError

from agentaudit.errors import AgentAuditError, ConfigError, TransientError
from agentaudit.settings import Settings

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Server error codes that describe the server's state, not the statement: the
# same statement succeeds later. (TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES,
# SOCKET_TIMEOUT, NETWORK_ERROR, MEMORY_LIMIT_EXCEEDED, TOO_MANY_PARTS,
# TABLE_IS_READ_ONLY, ALL_CONNECTION_TRIES_FAILED, KEEPER_EXCEPTION.)
TRANSIENT_SERVER_CODES = frozenset({159, 202, 209, 210, 241, 252, 242, 279, 999})


class StoreError(AgentAuditError):
    """ClickHouse refused a statement for a reason retrying will not fix."""


class DatabaseLockedError(ConfigError):
    """The embedded database folder is held by another process (usually a running sink)."""


def quote_identifier(name: str) -> str:
    """`name` in backquotes, after checking it is a plain identifier.

    Used for the database name, the only identifier that comes from
    configuration; values are never formatted into SQL, they are bound.
    """
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"{name!r} is not a valid ClickHouse identifier (letters, digits, underscore)")
    return f"`{name}`"


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DriverError) and exc.code in TRANSIENT_SERVER_CODES


def translate(exc: ClickHouseError, what: str) -> AgentAuditError:
    """The agentaudit error for a driver error raised while doing `what`."""
    if is_transient(exc):
        return TransientError(f"ClickHouse unavailable while {what}: {exc}")
    return StoreError(f"ClickHouse refused {what}: {exc}")


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Re-raise clickhouse-connect errors as TransientError or StoreError."""
    try:
        yield
    except ClickHouseError as exc:
        raise translate(exc, what) from exc


def _embedded_path(url: str) -> Path | None:
    return Path(url.removeprefix("chdb://")) if url.startswith("chdb://") else None


def _locked_by_other_process(path: Path) -> bool:
    """Whether another process holds the engine's lock on PATH/status.

    ClickHouse takes an exclusive flock on that file for as long as an engine
    runs; we only look after opening failed, so our own engine is not the holder.
    """
    try:
        fd = os.open(path / "status", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def connect(settings: Settings) -> Client:
    """A clickhouse-connect client for settings.clickhouse_url.

    No default database is set: statements name settings.clickhouse_database
    explicitly, so the client works before `agentaudit db migrate` created it.

    The embedded engine (chDB) serves one folder per process and one process per
    folder: while a sink runs on the embedded database, other processes cannot
    open it, and get DatabaseLockedError saying so.
    """
    url = settings.clickhouse_url
    path = _embedded_path(url)
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
    try:
        return clickhouse_connect.get_client(dsn=url)
    except ClickHouseError as exc:
        if path is not None and _locked_by_other_process(path):
            raise DatabaseLockedError(
                f"the embedded ClickHouse database {path} is in use by another process "
                "(a running `agentaudit sink` or demo): stop the sink, or run against a "
                "ClickHouse server with AGENTAUDIT_CLICKHOUSE_DSN=http://..."
            ) from None
        if path is not None and not isinstance(exc, OperationalError):
            raise ConfigError(
                f"cannot open the embedded ClickHouse database {path}: {exc} "
                "(this process may already have another chDB folder open; chDB allows one per process)"
            ) from exc
        raise translate(exc, f"connecting to {_redacted(url)}") from exc


def _redacted(url: str) -> str:
    """The URL without a password, for error messages and logs."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
