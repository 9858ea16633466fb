"""`agentaudit demo`."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from agentaudit.settings import Settings


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("demo")
@click.option("--events", default=20_000, show_default=True, help="Actions to emit in all.")
@click.option("--agents", "agent_count", default=6, show_default=True, help="Simulated agents.")
@click.option("--bad-ratio", default=0.02, show_default=True, help="Share of messages malformed on purpose.")
@click.option("--rate", default=0.0, show_default=True, help="Actions per second (0: as fast as possible).")
@click.option("--seed", default=7, show_default=True, help="Seed of the workload plan.")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, help="Seconds to wait for the pipeline to catch up.")
@click.pass_obj
def demo_command(settings: Settings, events: int, agent_count: int, bad_ratio: float, rate: float, seed: int,
                 timeout_s: float) -> None:
    """Run the whole pipeline locally with simulated agents, then show what landed.

    Starts a local Kafka broker (unless AGENTAUDIT_KAFKA_BOOTSTRAP names one),
    the processor and the sink on embedded ClickHouse under AGENTAUDIT_HOME,
    the alerter (to a local webhook receiver) and containment; simulated
    support, billing, coding and research agents emit actions, some malformed
    on purpose, some misusing their access, and a rogue agent runs an action
    its policy denied. When everything is stored it stops what it started and
    prints what was recorded and what was rejected, and why, the incidents, the
    alerts delivered and how the rogue agent was stopped. Exit code 0 only if
    every action is accounted for exactly once, everything verifies, alerts
    arrived and the kill switch stopped the rogue agent. Ctrl-C stops cleanly.
    """
    from agentaudit.demo.run import DemoPlan, exit_code, report, run_demo

    plan = DemoPlan(events=events, agents=agent_count, bad_ratio=bad_ratio, rate=rate, seed=seed, timeout_s=timeout_s)
    signal.signal(signal.SIGTERM, _interrupt)  # a supervisor's stop cleans up like Ctrl-C
    try:
        result = run_demo(settings, plan, lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        click.echo("\ninterrupted: everything the demo started has been stopped", err=True)
        sys.exit(130)
    click.echo(report(result, str(settings.home)))
    sys.exit(exit_code(result))
