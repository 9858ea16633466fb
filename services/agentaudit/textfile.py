"""Writing a command's text output to stdout or to a new file, never over an existing one."""

from __future__ import annotations

import os
from pathlib import Path

import click


def write_text(text: str, out: Path | None) -> bool:
    """Print text, or create out with it (0644); False when printed, ClickException if out exists.

    Exclusive create, because an evidence file or key export silently
    replaced is worse than a refused command.
    """
    if out is None:
        click.echo(text, nl=False)
        return False
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise click.ClickException(f"{out} exists; choose another --out or remove it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return True
