"""What the Backtest and Research pages share around a config: the saved-run picker's labels and
the step-by-step status of a job run on the published warehouse.

Both pages start work from a config (the Backtest page's New run form or a saved run it clones;
the Research page's config file or saved run) and run it read-only on the published warehouse,
showing a status box whose progress bar follows the job's steps. These two pieces were written
twice; they live here once.

API
---
:func:`saved_run_labels` ``(runs, chains=None, describe=run_label) -> dict[str, str]``
    ``{run_id: label}`` of saved runs for a picker, each label naming the run's option chain
    (:func:`app.queries.chain_label`); :func:`short_run_label` is the Research page's shorter
    ``describe``.
:func:`run_with_status` ``(title, steps, job, *, done, failures) -> T | None``
    Run ``job(report)`` under ``st.status`` with a progress bar that ``report(step, message)``
    moves; the outcome, or ``None`` after an expected failure (named on the page).

No DuckDB here: the pages read through :mod:`app.queries` and the runners.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import polars as pl
import streamlit as st

from app.formatting import run_label
from app.queries import chain_label

T = TypeVar("T")

#: ``(exception types, status label, message)``: a failure :func:`run_with_status` expects; the
#: message is formatted with ``exc``, the exception (``"The sweep could not run: {exc}"``).
Failure = tuple[type[Exception] | tuple[type[Exception], ...], str, str]


def short_run_label(run: Mapping[str, Any], chain: str) -> str:
    """``"<run_id> · <underlying_symbol> · <chain>"``, the Research page's saved-run label.

    >>> short_run_label({"run_id": "iron_condor-56dc", "underlying_symbol": "SPX"}, "real chain")
    'iron_condor-56dc · SPX · real chain'
    """
    return f"{run['run_id']} · {run['underlying_symbol']} · {chain}"


def saved_run_labels(
    runs: pl.DataFrame,
    chains: pl.DataFrame | None = None,
    describe: Callable[[Mapping[str, Any], str], str] = run_label,
) -> dict[str, str]:
    """Picker labels of saved runs, each naming the option chain the run traded.

    Parameters
    ----------
    runs
        One row per run of ``backtest.runs``: ``run_id`` and what ``describe`` reads; with
        ``chain_source`` and ``chain_model_version`` when ``chains`` is ``None``.
    chains
        :func:`app.queries.run_chains` (one row per ``run_id``), left-joined to ``runs`` when
        given; a run without a row there is labelled "chain unknown".
    describe
        ``(run row, chain text) -> label``; default :func:`app.formatting.run_label` (the
        Backtest page's), :func:`short_run_label` for the Research page.

    Returns
    -------
    dict[str, str]
        ``run_id -> label``, in the row order of ``runs``.

    >>> runs = pl.DataFrame({"run_id": ["a-1", "b-2"], "underlying_symbol": ["SPX", "SPX"]})
    >>> chains = pl.DataFrame({"run_id": ["a-1"], "chain_source": ["modeled"],
    ...                        "chain_model_version": ["ssvi-1"]})
    >>> saved_run_labels(runs, chains, short_run_label)
    {'a-1': 'a-1 · SPX · modeled chain ssvi-1', 'b-2': 'b-2 · SPX · chain unknown'}
    """
    if chains is not None:
        runs = runs.join(chains, on="run_id", how="left")
    return {
        run["run_id"]: describe(
            run, chain_label(run.get("chain_source"), run.get("chain_model_version"))
        )
        for run in runs.iter_rows(named=True)
    }


def run_with_status(
    title: str,
    steps: Sequence[str],
    job: Callable[[Callable[[str, str], None]], T],
    *,
    done: Callable[[T], str],
    failures: Sequence[Failure],
) -> T | None:
    """Run ``job`` under a status box with a progress bar, step by step.

    The box opens expanded with ``title``; ``job`` gets ``report(step, message)``, which moves
    the bar to the start of ``step`` (its index in ``steps`` over ``len(steps)``, the text
    ``"<step>: <message>"``) and relabels the box ``"Step n of N: <message>"``. On success the
    bar fills, the box collapses as complete with the label ``done(outcome)``. On an exception
    of ``failures`` (the first entry whose types match) the box collapses in the error state
    with that entry's label, and the formatted message stands below it as ``st.error``.

    Parameters
    ----------
    title
        The box's label while the job starts.
    steps
        The job's steps in order (``app.backtest_runner.STEPS``, ``SWEEP_STEPS``, ...).
    job
        ``report -> outcome``; it must call ``report`` with one of ``steps`` only.
    done
        The box's label after success, from the outcome (timings, counts).
    failures
        Expected failures, in order: ``(exception types, status label, message)``; the message
        is formatted with ``exc``.

    Returns
    -------
    T or None
        The job's outcome, or ``None`` after an expected failure.

    Raises
    ------
    Exception
        Any exception of ``job`` not in ``failures``, unchanged (the box turns to the error
        state); ``report`` raises ``ValueError`` naming a step that is not in ``steps``.
    """
    expected = tuple(
        t for types, _, _ in failures for t in (types if isinstance(types, tuple) else (types,))
    )
    failure: str | None = None
    outcome: T | None = None
    with st.status(title, expanded=True) as status:
        bar = st.progress(0.0)

        def report(step: str, message: str) -> None:
            if step not in steps:
                raise ValueError(f"step must be one of {list(steps)}, got {step!r}")
            n = list(steps).index(step)
            bar.progress(n / len(steps), text=f"{step}: {message}")
            status.update(label=f"Step {n + 1} of {len(steps)}: {message}")

        try:
            outcome = job(report)
        except expected as exc:
            _, label, message = next(f for f in failures if isinstance(exc, f[0]))
            failure = message.format(exc=exc)
            status.update(label=label, state="error", expanded=False)
        else:
            bar.progress(1.0, text="done")
            status.update(label=done(outcome), state="complete", expanded=False)
    if failure is not None:
        st.error(failure, icon=":material/error:")
    return outcome
