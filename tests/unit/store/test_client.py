from __future__ import annotations

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError, ProgrammingError

from agentaudit.errors import TransientError
from agentaudit.settings import Settings
from agentaudit.store.client import StoreError, _redacted, translate, translate_errors


def test_operational_errors_are_transient() -> None:
    assert isinstance(translate(OperationalError("connection refused"), "x"), TransientError)


def test_busy_server_codes_are_transient() -> None:
    assert isinstance(translate(DatabaseError("Code: 252. TOO_MANY_PARTS", code=252), "x"), TransientError)


@pytest.mark.parametrize("exc", [DataError("bad value"), ProgrammingError("syntax"), DatabaseError("Code: 60.", code=60)])
def test_other_errors_are_permanent(exc: Exception) -> None:
    assert isinstance(translate(exc, "x"), StoreError)  # type: ignore[arg-type]


def test_translate_errors_chains_the_cause() -> None:
    with pytest.raises(TransientError) as info, translate_errors("inserting"):
        raise OperationalError("timeout")
    assert isinstance(info.value.__cause__, OperationalError)


def test_passwords_stay_out_of_messages() -> None:
    assert _redacted("https://user:s3cret@host:8443/db") == "https://user:***@host:8443/db"


def test_embedded_url_defaults_under_home(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert Settings(home=tmp_path).clickhouse_url == f"chdb://{tmp_path.resolve()}/clickhouse"
