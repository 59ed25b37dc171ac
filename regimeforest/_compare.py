"""``regimeforest compare``: two registered versions side by side, wired into
:mod:`regimeforest.cli` as ``app.command("compare")(compare_command)``.

The work is :func:`tasks.compare.compare_versions`, called as a plain function (``.fn``) with
Prefect's run logger switched off: comparing reads the registry and the bars and logs one
artifact, so no Prefect server is started for it.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from regimeforest._lifecycle import AsOfArg, ConfigArg, DataArg, TrackingArg, _moment, _setup

__all__ = ["COMPARE_HELP", "compare_command", "print_comparison"]

COMPARE_HELP = """Compare two registered versions of the profile's model: is B better than A, and
is either overfit?

A and B are version numbers or aliases (`champion`, `challenger`, a rollout stage such as
`shadow`). Default: A is the champion, B the newest registered version.

Prints the headline figures of both training runs side by side (A, B, B−A), then the promotion
gate's paired test: both versions scored on the same newest bars (the span the gate uses:
`promotion.gate.compare_bars`, else the final holdout of the bars a retrain would read at
--as-of), their signals held as the paper books hold them and filled at the next bar's open with
the profile's costs, and the one-sided Sharpe-difference test that B beats A (the profile's
`promotion.gate.test` and `alpha`), with the gate's verdict for B in words.

Logs the same as a self-contained page, `compare/v<B>_vs_v<A>.html`, on B's MLflow run: both
equity paths beside buy-and-hold, the headline table, the test, PBO and deflated Sharpe, the
regime figures and the feature importances of both; prints its link in the MLflow UI
(`regimeforest ui` serves it).

Exit codes: 0 done; 1 refused: A or B names no registered version or alias, both name the same
version, or the bars cannot be read; 2 usage error (bad profile, bad --as-of).

Examples:

    regimeforest compare              # champion against the newest

    regimeforest compare 3 5

    regimeforest compare champion challenger --config simulated
"""


def compare_command(
    a: Annotated[Optional[str], typer.Argument(
        metavar="[A]", help="Version number or alias judged against (default: champion).")] = None,
    b: Annotated[Optional[str], typer.Argument(
        metavar="[B]", help="Version number or alias judged (default: the newest one).")] = None,
    config: ConfigArg = None, data: DataArg = None, tracking_uri: TrackingArg = None,
    as_of: AsOfArg = None,
) -> None:
    from prefect.logging import disable_run_logger

    from regimeforest import cli
    from regimeforest._progress import progress

    profile, _ = _setup(config, data, tracking_uri)
    moment = _moment(as_of, "--as-of")
    from tasks.compare import compare_versions
    from tasks.registry import Tracker

    with progress(cli.err) as step:
        step(f"comparing {profile.registry.model_name} {b or 'newest'} against "
             f"{a or 'champion'}: scoring both on the newest bars")
        try:
            with disable_run_logger():
                result = compare_versions.fn(Tracker(profile.registry.tracking_uri), profile,
                                             a, b, as_of=moment)
        except (LookupError, ValueError) as exc:
            cli._fail(str(exc))
    print_comparison(result)


def print_comparison(result: Any) -> None:
    """The headline table, the paired test, the gate's verdict and the page's link."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from regimeforest import cli
    from reporting.compare import DIFFERENCE, format_table
    from reporting.headline import HEADLINE

    label_a, label_b = result.labels
    table = Table(title=f"{result.model_name}: B = {label_b} against A = {label_a} "
                        "(headline figures of their training runs)", title_justify="left")
    for column, justify in (("figure", "left"), (f"A: {label_a}", "right"),
                            (f"B: {label_b}", "right"), (DIFFERENCE, "right"),
                            ("meaning", "left")):
        table.add_column(column, justify=justify, style="dim" if column == "meaning" else None)
    for name, row in format_table(result.table).iterrows():
        table.add_row(str(name), row["A"], row["B"], row[DIFFERENCE], HEADLINE.get(str(name), ""))
    console = cli.console if cli.console.is_terminal else Console(width=200)
    console.print(table)
    span = ("" if result.span is None else
            f", newest bars {result.span[0]:%Y-%m-%d %H:%M} → {result.span[1]:%Y-%m-%d %H:%M} UTC")
    console.print(f"[bold]paired test[/] (the promotion gate's{span}): "
                  f"{escape(result.test_text)}", highlight=False, soft_wrap=True)
    verdict = result.verdict
    console.print(f"[bold]gate verdict[/] for B with A in the champion's place: "
                  f"[bold]{verdict.verdict}[/] — {escape(verdict.reason)}", highlight=False,
                  soft_wrap=True)
    console.print(f"comparison page ({result.artifact_path} on run {result.run_id}): "
                  f"{escape(result.url)}", highlight=False, soft_wrap=True)
