"""`agentaudit bench`."""

from __future__ import annotations

import json

import click

from agentaudit.settings import Settings


@click.command("bench")
@click.option("--events", default=50_000, show_default=True, help="Actions for the throughput runs.")
@click.option("--rate", default=1_000.0, show_default=True, help="Actions per second for the latency runs.")
@click.option("--latency-seconds", "latency_s", default=20.0, show_default=True, help="Length of each latency run.")
@click.option("--processors", default=1, show_default=True, help="Processor replicas (one faust worker each).")
@click.option("--keys", type=click.Choice(["ed25519", "hmac"]), default="ed25519", show_default=True,
              help="What the simulated agents sign with; the processor verifies every signature.")
@click.option("--rules", type=click.Choice(["both", "on", "off"]), default="both", show_default=True,
              help="Detection rules in the processor: both runs the pipeline without, then with them, to show "
                   "what scoring costs.")
@click.option("--repeat", default=1, show_default=True,
              help="Pipeline runs per rules mode, alternating; the median throughput is reported.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def bench_command(
    settings: Settings, events: int, rate: float, latency_s: float, processors: int, keys: str, rules: str,
    repeat: int, as_json: bool,
) -> None:
    """Measure end-to-end throughput and latency beside a raw Kafka relay.

    On one broker in one run: a bare confluent-kafka consume→produce relay,
    then the pipeline (emitters → processor → sink → ClickHouse) with the load
    generator included. Throughput: as fast as the emitters go. Latency: at a
    fixed --rate, from the agent's emit to the row being queryable. The ratio
    pipeline/relay is the figure that survives a noisy machine. Data goes to
    AGENTAUDIT_HOME/bench with fresh topics per run.
    """
    from agentaudit.bench.pipeline import BenchPlan, run_bench

    plan = BenchPlan(events=events, rate=rate, latency_s=latency_s, processors=processors, keys=keys, rules=rules,
                     repeat=repeat)
    result = run_bench(settings, plan, lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    rl = result["relay_latency"]
    click.echo(f"\n{'':<42}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}   (latency at {rate:,.0f}/s)")
    click.echo(f"{'raw confluent-kafka relay':<42}{result['relay_throughput']:>10,.0f}{rl['p50'] * 1e3:>9.0f}{rl['p99'] * 1e3:>9.0f}")
    for mode in ("off", "on"):
        if f"rules_{mode}" in result:
            run = result[f"rules_{mode}"]
            pl = run["pipeline_latency"]
            label = f"pipeline, {processors} proc., {keys}, rules {mode}"
            click.echo(f"{label:<42}{run['pipeline_throughput']:>10,.0f}{pl['p50'] * 1e3:>9.0f}{pl['p99'] * 1e3:>9.0f}"
                       + (f"   median of {', '.join(f'{t:,.0f}' for t in run['throughputs'])}" if repeat > 1 else ""))
    click.echo(f"{'pipeline / relay':<42}{result['ratio']:>10.3f}")
    if "rules_cost" in result:
        click.echo(f"{'throughput lost to the rules':<42}{result['rules_cost']:>10.1%}")
