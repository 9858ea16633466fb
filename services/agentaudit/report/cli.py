"""`agentaudit report`: the SOC 2 evidence pack for a window, signed, for auditors."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.settings import Settings

MAX_SAMPLE = 1000


@click.command("report")
@click.option("--since", required=True, help=f"Start of the window (pipeline ingest time): {TIME_HELP}.")
@click.option("--until", help="End of the window (excluded); default now. Given, it is also the horizon by which "
                                "every chain must be sealed, as for `verify --until`.")
@click.option("--tenant", "tenants", multiple=True, help="Only this tenant (repeatable); default: every tenant.")
@click.option("--format", "formats", multiple=True, default=("html",), show_default=True,
              help="html, pdf and/or json, repeated or comma-separated (html,pdf); report.json is always written. "
                   "pdf needs Chromium (AGENTAUDIT_CHROMIUM, or chromium on PATH).")
@click.option("--sample", "sample_n", type=click.IntRange(0, MAX_SAMPLE), default=5, show_default=True,
              help="Actions drawn at random from the window, each shown with its full chain of custody and "
                   "written with its inclusion proof.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1),
              help="Seed of the draw; the same seed over the same data draws the same actions. Default: a random "
                   "seed, printed in the report so the draw can be repeated.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the pack into: new, or empty.")
@click.pass_obj
def report_command(settings: Settings, since: str, until: str | None, tenants: tuple[str, ...], formats: tuple[str, ...],
                   sample_n: int, seed: int | None, out: Path) -> None:
    """Write the SOC 2 evidence pack for a window: one section per criterion, charts, a sample, a signed manifest.

    \b
    Sections (every figure computed from the stored, hash-chained records):
      CC6.1        actions by policy decision x outcome (chart); denied, executed despite a deny, executed
                   without the approval their policy required; the sampled actions as examples
      CC6.2/CC6.3  the agent inventory at the window's end (owner, environment, principals, declared scope,
                   keys with their validity) and registrations, key rotations, suspensions, retirements in
                   the window with actor and approver
      CC7.2        rule hits by rule and severity, over time, and the risk score distribution (charts)
      CC7.3        incidents with their timelines; time to acknowledge and to resolve (MTTA, MTTR)
      CC7.4        incidents contained, agents suspended (by the containment service or people), reinstated
      CC8.1        registry changes with approvers; policy and model versions agents acted under
      Retention    each table's TTL against the 365-day floor, its oldest row, recorded TTL changes
      PI           `agentaudit verify` over the window's chains and seals (with --until, that end is the
                   horizon by which every chain must be sealed, as `verify --until`); completeness: accepted
                   against rejected inputs by reason (chart), sessions with missing sequence numbers, seal
                   coverage
      Access       who read audit data through the query API (api_reads)

    \b
    Sampling: --sample N draws the N chained actions of the window whose
    SHA-256("<seed>:<event_id>") is smallest -- uniform for a seed chosen
    without looking at the data, repeatable by anyone with the event ids and
    the seed. Each comes with its chain of custody (principal, registry entry
    and approver, policy decision, approval, outcome, detections, incidents,
    chain position, seal) and samples/<event_id>.proof.json, its inclusion
    proof (`agentaudit verify --proof FILE`).

    \b
    The pack: report.json, report.html / report.pdf, samples/, public-keys.json,
    manifest.json (every file's SHA-256) and manifest.sig (signed by the pipeline
    keyring, which needs its KEK as for `agentaudit export`). Check it offline:
    agentaudit verify --bundle DIR --public-keys KEYS
    """
    from agentaudit.evidence.export import prepare_directory
    from agentaudit.keyring import Keyring
    from agentaudit.query.timeparse import parse_time
    from agentaudit.report.gather import gather
    from agentaudit.report.pack import parse_formats, write_pack
    from agentaudit.report.render_pdf import find_chromium
    from agentaudit.report.scope import ReportScope
    from agentaudit.store import connect

    try:
        wanted = parse_formats(formats)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--format") from None
    now = datetime.now(UTC)
    # Without --until the window ends now and, as for `verify` without --until, no horizon is checked: a
    # pipeline that is stopped (a laptop after the demo) has not sealed up to now, and is not broken for it.
    end = parse_time(until, now) if until else now
    scope = ReportScope(settings.clickhouse_database, parse_time(since, now), end, tenants,
                        sealed_by=end if until else None)
    # Everything that can refuse does so before the queries run.
    chromium = find_chromium(settings.chromium) if "pdf" in wanted else None
    prepare_directory(out)
    keyring = Keyring.load(settings)
    seed = secrets.randbelow(2**63) if seed is None else seed

    def progress(message: str) -> None:
        click.echo(f"report: {message}…", err=True)

    client = connect(settings)
    try:
        gathered = gather(client, settings, scope, sample_n=sample_n, seed=seed,
                          public_keys_document=keyring.export_public(), public_keys=keyring.public_keys(),
                          now_us=time.time_ns() // 1000, progress=progress)
    finally:
        client.close()
    written = write_pack(out, gathered, wanted, keyring, keyring.export_public(), chromium, progress)
    sections = gathered.document["sections"]
    verification = sections["verification"]["ok"]
    click.echo(f"wrote {out}: {', '.join(f['name'] for f in written.files if '/' not in f['name'])} and "
               f"{len(gathered.proofs)} sample proofs, manifest signed by pipeline key {written.key_id}")
    click.echo(f"sample: {len(sections['sample']['chains'])} actions, seed {seed}")
    click.echo("verification of the window: " + {True: "OK", False: "NOT OK", None: "nothing to verify"}[verification])
    click.echo(f"verify offline with: agentaudit verify --bundle {out} --public-keys KEYS.json", err=True)
