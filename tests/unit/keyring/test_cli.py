"""`agentaudit keys …` end to end on files (no broker needed)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner

from agentaudit.cli import _register, cli
from agentaudit.errors import AgentAuditError
from agentaudit.keyring import load_public_keys


def _run(home: Path, *args: str) -> tuple[int, str, str]:
    _register()
    result = CliRunner().invoke(cli, list(args), env={"AGENTAUDIT_HOME": str(home), "AGENTAUDIT_KEK": "",
                                                      "AGENTAUDIT_KEK_FILE": ""})
    err = result.stderr
    if isinstance(result.exception, AgentAuditError):  # what main() prints for it
        err += f"agentaudit: error: {result.exception}"
    return result.exit_code, result.stdout, err


def test_init_dev_rotate_list_and_export(tmp_path: Path) -> None:
    code, out, err = _run(tmp_path, "keys", "init", "--dev")
    assert code == 0, err
    assert "WARNING" in err and "secret manager" in err
    kek = tmp_path / "keys" / "kek"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert kek.read_text().strip() not in out + err  # the KEK is never printed

    code, out, err = _run(tmp_path, "keys", "rotate")
    assert code == 0 and "retired" in out, err
    code, out, _ = _run(tmp_path, "keys", "list")
    assert code == 0 and out.count("(current)") == 1 and len(out.strip().splitlines()) == 3

    exported = tmp_path / "public.json"
    code, _, err = _run(tmp_path, "keys", "export-public", "--out", str(exported))
    assert code == 0, err
    assert len(load_public_keys(exported)) == 2
    code, _, err = _run(tmp_path, "keys", "export-public", "--out", str(exported))
    assert code != 0 and "exists" in err
    code, out, _ = _run(tmp_path, "keys", "export-public")
    assert json.loads(out) == json.loads(exported.read_text())


def test_init_without_a_kek_explains_where_it_comes_from(tmp_path: Path) -> None:
    code, _, err = _run(tmp_path, "keys", "init")
    assert code != 0
    assert "AGENTAUDIT_KEK_FILE" in err and "keys init --dev" in err
