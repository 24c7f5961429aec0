"""The audit's report: one self-contained ``index.html`` and its PNG plots.

``write_report(result, out_dir)`` writes, into ``out_dir``:

* ``index.html`` -- PASS/FAIL, the counts, every mismatch (block, transaction, account,
  quantity, the reference's value, the chain's), each account's funding, what the audit
  checks and what it cannot, and the plots. No script, no stylesheet or font from
  anywhere: it opens from disk in any browser, offline.
* ``premium.png`` -- the premium samples and the interval averages, with the dampener
  band [I - d, I + d] (inside it the rate is I) and the +-cap lines;
* ``rate.png`` -- the funding rate in force;
* ``funding_index.png`` -- the cumulative funding index;
* ``funding_by_account.png`` -- the funding each account paid (+) or received (-), summed
  over its settlements;
* ``longs_shorts.png`` -- the funding paid by longs and by shorts.

Plots use matplotlib's Agg backend (no display). Rates and premiums are shown in % per
interval, the index and payments in quote units (WAD / 1e18), time in hours since the
market's deployment.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from fundingkit.audit import AuditResult

#: Where reports go by default: <repo>/reports/<network>-<market>/.
REPORTS_DIR = Path(__file__).resolve().parents[1] / "reports"

PLOTS = {
    "premium.png": "Premium samples and interval averages",
    "rate.png": "Funding rate in force",
    "funding_index.png": "Funding index",
    "funding_by_account.png": "Cumulative funding per account",
    "longs_shorts.png": "Funding paid by longs and by shorts",
}
MAX_ACCOUNTS_PLOTTED = 10
PERCENT = 10**16  # a WAD fraction in %
WAD = 10**18


def report_dir_for(network: str, market: str, root: Path | None = None) -> Path:
    """``reports/<network>-<market address>``."""
    return (root or REPORTS_DIR) / f"{network}-{market}"


def write_report(result: AuditResult, out_dir: Path) -> Path:
    """Writes ``index.html`` and the plots into ``out_dir``; returns the HTML's path and
    sets ``result.report_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _plots(result, out_dir)
    path = out_dir / "index.html"
    path.write_text(_html(result), encoding="utf-8")
    result.report_dir = out_dir
    return path


# ---------------------------------------------------------------- plots


def _hours(result: AuditResult, timestamp: int) -> float:
    return (timestamp - result.start_time) / 3_600


def _plots(result: AuditResult, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result.accruals.items()
    hours = [_hours(result, p.time) for p in points]
    end = [max(hours[-1], 1e-9)] if hours else [1.0]

    def extend(values: list) -> list:  # a step plot held to the last accrual
        return values + values[-1:] if values else values

    xs = extend(hours)
    xs[-1:] = end if xs else xs

    def figure(title: str, ylabel: str):
        fig, ax = plt.subplots(figsize=(11, 4.2), dpi=100)
        ax.set_title(title)
        ax.set_xlabel("hours since deployment")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        return fig, ax

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / name)
        plt.close(fig)

    # Premium, averages, band and cap.
    fig, ax = figure(PLOTS["premium.png"], "% per interval")
    if points:
        pct = lambda values: [v / PERCENT for v in values]  # noqa: E731
        low = pct([p.interest - p.dampener for p in points])
        high = pct([p.interest + p.dampener for p in points])
        ax.fill_between(
            xs,
            extend(low),
            extend(high),
            step="post",
            color="tab:green",
            alpha=0.15,
            label="dampener band [I - d, I + d]: rate = I",
        )
        cap = pct([p.cap for p in points])
        ax.step(xs, extend(cap), where="post", color="tab:red", ls="--", lw=1, label="+cap")
        ax.step(
            xs, extend([-c for c in cap]), where="post", color="tab:red", ls=":", lw=1, label="-cap"
        )
        ax.step(
            xs,
            extend(pct([p.premium for p in points])),
            where="post",
            color="tab:blue",
            lw=1.2,
            label="premium sample (held until the next accrual)",
        )
        ax.step(
            xs,
            extend(pct([p.interval_average for p in points])),
            where="post",
            color="black",
            lw=1.6,
            label="last closed interval's average",
        )
        stale = [(h, p.premium / PERCENT) for h, p in zip(hours, points, strict=True) if p.stale]
        if stale:
            ax.scatter(
                *zip(*stale, strict=True),
                marker="x",
                color="tab:orange",
                zorder=5,
                label="accrual with an unusable feed (sample held over)",
            )
        ax.legend(loc="best", fontsize=8)
    save(fig, "premium.png")

    fig, ax = figure(PLOTS["rate.png"], "% per interval")
    if points:
        # (value of a point, style): the rate, the interest it tends to, and the caps.
        lines = (
            (lambda p: p.rate, dict(color="tab:purple", lw=1.6, label="rate in force R")),
            (lambda p: p.interest, dict(color="tab:green", ls="--", lw=1, label="interest I")),
            (lambda p: p.cap, dict(color="tab:red", ls=":", lw=1, label="+-cap")),
            (lambda p: -p.cap, dict(color="tab:red", ls=":", lw=1)),
        )
        for value, style in lines:
            ax.step(xs, extend([value(p) / PERCENT for p in points]), where="post", **style)
        ax.axhline(0, color="grey", lw=0.8)
        # Zoom in on the rate when the cap would flatten it; the cap lines then leave the
        # plot, and the legend says so.
        largest = max(max(abs(p.rate), abs(p.interest)) for p in points) / PERCENT
        cap = max(p.cap for p in points) / PERCENT
        if 0 < largest * 4 < cap:
            ax.set_ylim(-1.5 * largest, 1.5 * largest)
            ax.plot([], [], " ", label=f"(cap up to +-{cap:g} %: off this scale)")
        ax.legend(loc="best", fontsize=8)
    save(fig, "rate.png")

    fig, ax = figure(PLOTS["funding_index.png"], "quote per 1 base")
    if points:
        ax.plot(
            hours,
            [p.funding_index / WAD for p in points],
            color="tab:blue",
            marker=".",
            ms=3,
            lw=1.2,
            label="funding index F (rises when longs pay)",
        )
        ax.axhline(0, color="grey", lw=0.8)
        ax.legend(loc="best", fontsize=8)
    save(fig, "funding_index.png")

    fig, ax = figure(PLOTS["funding_by_account.png"], "quote paid (+) / received (-)")
    paying = [(a, s) for a, s in result.account_summaries.items() if s.settlements]
    paying.sort(key=lambda item: -abs(item[1].funding_paid))
    for address, summary in paying[:MAX_ACCOUNTS_PLOTTED]:
        series = summary.cumulative.items()
        ax.step(
            [_hours(result, t) for t, _ in series],
            [v / WAD for _, v in series],
            where="post",
            lw=1.3,
            label=_short(address),
        )
    if paying:
        ax.axhline(0, color="grey", lw=0.8)
        more = len(paying) - MAX_ACCOUNTS_PLOTTED
        title = f"{MAX_ACCOUNTS_PLOTTED} largest of {len(paying)}" if more > 0 else None
        ax.legend(loc="best", fontsize=8, title=title)
    else:
        _empty(ax, "no funding settled")
    save(fig, "funding_by_account.png")

    fig, ax = figure(PLOTS["longs_shorts.png"], "quote paid (+) / received (-)")
    drawn = False
    for series, label, color in (
        (result.longs_paid, "paid by longs", "tab:green"),
        (result.shorts_paid, "paid by shorts", "tab:red"),
    ):
        items = series.items()
        if items:
            drawn = True
            ax.step(
                [_hours(result, t) for t, _ in items],
                [v / WAD for _, v in items],
                where="post",
                color=color,
                lw=1.5,
                label=label,
            )
    if drawn:
        ax.axhline(0, color="grey", lw=0.8)
        ax.legend(loc="best", fontsize=8)
    else:
        _empty(ax, "no funding settled")
    save(fig, "longs_shorts.png")


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _short(address: str) -> str:
    return f"{address[:8]}...{address[-4:]}"


# ---------------------------------------------------------------- html

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1150px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; font-size: 1.6em; font-weight: 700; padding: 0.2em 0.8em;
           border-radius: 6px; color: #fff; }
.pass { background: #1a7f37; } .fail { background: #c62828; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-family: ui-monospace, monospace; }
code, td.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.4em 0 1em; }
.note { color: #555; font-size: 0.92em; }
.scroll { overflow-x: auto; }
span[title] { border-bottom: 1px dotted #999; cursor: help; }
"""


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _abbreviated(text: str) -> str:
    """A hash or address shortened for a table cell; the whole of it in the tooltip."""
    if text.startswith("0x") and len(text) > 20:
        whole, head, tail = html.escape(text), html.escape(text[:10]), html.escape(text[-6:])
        return f'<span title="{whole}">{head}&hellip;{tail}</span>'
    return html.escape(text)


def _quote(wad: int) -> str:
    return f"{wad / WAD:,.6f}"


def _html(result: AuditResult) -> str:
    e = html.escape
    verdict = "PASS" if result.passed else "FAIL"
    duration = (result.end_time - result.start_time) / 3_600
    counts = [
        ("market", f"<code>{e(result.market or '-')}</code>"),
        ("network", e(result.network or "-")),
        ("blocks", f"{result.first_block} .. {result.last_block}"),
        ("deployed", f"{_utc(result.start_time)}; last accrual {duration:,.1f} h later"),
        ("events", f"{result.events:,}"),
        ("transactions", f"{result.transactions:,}"),
        ("accounts", f"{result.accounts:,}"),
        ("checks", f"{result.checks:,}"),
        ("mismatches", f"{result.mismatch_count:,}"),
        ("calls replayed", e(", ".join(f"{k} {v}" for k, v in sorted(result.calls.items())))),
        ("withdrawal margins not re-checked", f"{result.unchecked_withdrawals:,}"),
        ("caps taken as logged (source not rebuilt)", f"{result.unchecked_caps:,}"),
        ("final state compared", "yes" if result.final_state_compared else "no"),
        ("speed", f"{result.events_per_second:,.0f} events/s ({result.seconds:.2f} s)"),
    ]
    rows = "\n".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in counts)

    if result.mismatches:
        body = "\n".join(
            "<tr>"
            f"<td class=num>{m.block}</td><td class=mono>{_abbreviated(m.transaction)}</td>"
            f"<td class=mono>{_abbreviated(m.account or '-')}</td><td>{e(m.quantity)}</td>"
            f"<td class=num>{m.expected}</td><td class=num>{m.actual}</td>"
            f"<td class=num>{m.actual - m.expected}</td>"
            "</tr>"
            for m in result.mismatches
        )
        hidden = result.mismatch_count - len(result.mismatches)
        more = f"<p class=note>{hidden:,} more not listed.</p>" if hidden > 0 else ""
        mismatches = (
            "<div class=scroll><table><tr><th>block</th><th>transaction</th><th>account</th>"
            "<th>quantity</th>"
            "<th>expected (reference)</th><th>actual (chain)</th><th>actual - expected</th>"
            f"</tr>\n{body}</table></div>{more}"
        )
    else:
        mismatches = "<p>None: the reference reproduces every checked value exactly.</p>"

    accounts = "\n".join(
        f"<tr><td class=mono>{e(address)}</td><td class=num>{_quote(s.funding_paid)}</td>"
        f"<td class=num>{s.settlements}</td><td class=num>{_quote(s.margin)}</td>"
        f"<td class=num>{s.position / WAD:,.6f}</td></tr>"
        for address, s in result.account_summaries.items()
    )
    plots = "\n".join(
        f'<h3>{e(title)}</h3>\n<img src="{name}" alt="{e(title)}">' for name, title in PLOTS.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Funding audit {verdict}: {e(result.market)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Funding audit of a FundingMarket</h1>
<p><span class="verdict {verdict.lower()}">{verdict}</span></p>
<p>{e(result.summary())}</p>
<table>{rows}</table>

<h2>Mismatches</h2>
<p class=note><em>expected</em> is the Python reference's value, <em>actual</em> the chain's.
Quantities named <code>Event.field</code> compare an event's field with the reference at that
event; <em>final state</em> rows compare the market's storage at the last audited block.</p>
{mismatches}

<h2>Accounts</h2>
<p class=note>Funding paid (+) or received (-) is the reference's, summed over each account's
settlements; margin and position are the reference's final values (quote and base).</p>
<table><tr><th>account</th><th>funding paid</th><th>settlements</th><th>margin</th>
<th>position</th></tr>
{accounts}</table>

<h2>Plots</h2>
{plots}

<h2>What this audit checks</h2>
<p class=note>The market is replayed from its own events only, through the Python reference
(<code>fundingkit.market.MarketModel</code>), which recomputes every figure with Vyper's
integer semantics; the feeds' readings are the ones the events recorded. Checked: each
<code>Accrued.funding_index</code>; each settlement's owed amount, index and position (and
that exactly those accounts were settled); the margin after each deposit and withdrawal;
that a trade used the readings its accrual logged; that the reference accepts every call the
chain accepted (price band, initial margin, bounds of every parameter); and, at the end,
every account's margin, position and (when it holds a position) index snapshot, and the
market's stored rate state and totals. A cap source (a <code>VolatilityCap</code>) and a rate
model contract are rebuilt from their deployment logs and replayed with the market, so their
caps and index steps are recomputed too, and their stored state compared at the end.</p>
<p class=note>Not checked, because no event records it: who sent a call (admin events are
replayed as the owner's, trades as the operator's); the token's side of deposits and
withdrawals; and the margin check of a withdrawal that kept a position without accruing
(it read an index price no event records) -- its effect on the margin is checked; and the
caps of a cap source the audit cannot rebuild, taken as the market logged them (counted
above).</p>
</body>
</html>
"""


__all__ = ["PLOTS", "REPORTS_DIR", "report_dir_for", "write_report"]
