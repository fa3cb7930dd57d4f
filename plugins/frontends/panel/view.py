"""The Panel page of the dashboard: widgets and HTML over a :class:`DashboardSession`.

:mod:`~deepcart.plugins.frontends.panel.server` serves it for a :class:`DashboardData` loaded once
per process; :func:`make_app` builds a fresh page, with its own session, for each browser session, so two people
never see each other's ratings. Everything the page shows comes from the session's methods; this
module only lays it out and turns widget events into method calls.

The page must work without internet access: the FastListTemplate's design normally loads the Open
Sans font from Google, so :class:`OfflineFast` drops that resource and the page uses system fonts;
every other script and stylesheet is served by the Panel server itself.
"""

from __future__ import annotations

import html
import io
import logging
import time
from collections.abc import Sequence
from typing import Any

import panel as pn
from panel.theme.fast import Fast

from deepcart.pipeline.picks import Pick
from deepcart.plugins.frontends.panel.state import (
    K_CHOICES,
    DashboardData,
    DashboardSession,
    Notice,
    PicksResult,
)

LOG = logging.getLogger(__name__)

ACCENT = "#c2410c"
HEADER = "#1c1917"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif'


class OfflineFast(Fast):
    """The Fast design without its web font, so the page requests nothing from the internet."""

    _resources = {**Fast._resources, "font": {}}


# Panel resolves a design's bundled files under a folder named after the class (``fast/``).
OfflineFast.__name__ = OfflineFast.__qualname__ = "Fast"

CSS = """
:host { --dc-accent: %(accent)s; --dc-muted: #6b7280; --dc-line: #e7e5e4; font-family: %(font)s; }
.dc-empty { color: var(--dc-muted); padding: 12px 4px; }
.dc-head { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; margin: 0 0 8px; }
.dc-head h2 { font-size: 1.25rem; margin: 0; }
.dc-head .dc-time { color: var(--dc-muted); font-size: .8rem; white-space: nowrap; }
.dc-pick { display: grid; grid-template-columns: 32px 1fr 78px; gap: 10px; padding: 10px 4px;
           border-top: 1px solid var(--dc-line); }
.dc-rank { font-weight: 700; color: var(--dc-muted); font-size: 1.05rem; padding-top: 2px; }
.dc-title { font-weight: 600; line-height: 1.25; }
.dc-meta { color: var(--dc-muted); font-size: .85rem; margin-top: 2px; }
.dc-review { margin: 6px 0 0; padding: 6px 10px; border-left: 3px solid var(--dc-accent);
             background: #fafaf9; font-size: .85rem; line-height: 1.35; border-radius: 0 4px 4px 0; }
.dc-clamp { display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.dc-review b { font-weight: 600; }
.dc-rstars { color: #b45309; letter-spacing: 1px; }
.dc-votes { color: var(--dc-muted); font-size: .75rem; margin-top: 2px; }
.dc-qlabel { color: var(--dc-muted); font-size: .7rem; text-transform: uppercase; letter-spacing: .04em; }
.dc-score { text-align: center; }
.dc-pill { display: inline-block; min-width: 58px; padding: 4px 6px; border-radius: 14px; color: white;
           font-weight: 700; font-size: 1rem; }
.dc-pill.bad { background: #b91c1c; } .dc-pill.mid { background: #b45309; } .dc-pill.good { background: #15803d; }
.dc-sub { font-size: .72rem; color: var(--dc-muted); margin-top: 3px; }
.dc-detail h3 { margin: 0 0 4px; font-size: 1.1rem; line-height: 1.3; }
.dc-chips { margin-top: 6px; }
.dc-chip { display: inline-block; background: #f5f5f4; border: 1px solid var(--dc-line); border-radius: 10px;
           padding: 1px 8px; margin: 2px 4px 2px 0; font-size: .75rem; color: #44403c; }
.dc-facts { display: flex; flex-wrap: wrap; gap: 4px 16px; margin-top: 4px; font-size: .9rem; }
.dc-facts span b { font-weight: 600; }
.dc-warn { color: #b45309; font-size: .85rem; margin-top: 6px; }
.dc-problem { border: 1px solid #fecaca; background: #fef2f2; border-radius: 6px; padding: 14px 18px; }
.dc-problem h2 { margin-top: 0; color: #991b1b; }
.dc-problem code, .dc-help code { background: #f5f5f4; padding: 1px 4px; border-radius: 3px; }
.dc-help pre { background: #1c1917; color: #f5f5f4; padding: 10px 14px; border-radius: 6px; overflow-x: auto; }
""" % {"accent": ACCENT, "font": FONT}


def _money(price: float | None) -> str:
    return f"${price:,.2f}" if price is not None else "price n/a"


def _stars(n: float | None) -> str:
    n = int(round(n or 0))
    return "★" * n + "☆" * (5 - n)


def _pill(predicted: float) -> str:
    kind = "bad" if predicted < 2.5 else "mid" if predicted < 3.75 else "good"
    return f'<span class="dc-pill {kind}">{predicted:.1f}★</span>'


def render_picks(result: PicksResult, *, version: int = 0, refresh_ms: float | None = None,
                 notes: Sequence[str] = ()) -> str:
    """The picks list as HTML (each pick an ``article.dc-pick`` with ``data-asin``)."""
    e = html.escape
    heading = "Your worst picks" if result.direction == "worst" else "Your best picks"
    took = f"updated in {refresh_ms:.0f} ms" if refresh_ms is not None else ""
    parts = [f'<div class="dc-picks" data-direction="{result.direction}" data-version="{version}">',
             f'<div class="dc-head"><h2>{heading}</h2><span class="dc-time">{e(took)}</span></div>']
    if any(p.likely_percentile is not None for p in result.picks):
        stars = "low" if result.direction == "worst" else "high"
        parts.append(f'<div class="dc-sub">Ranked by how likely you are to meet each product and how you '
                     f'would rate it: likely, with {stars} predicted stars, first.</div>')
    parts += [f'<div class="dc-warn">{e(n)}</div>' for n in notes]
    if result.error:
        parts.append(f'<div class="dc-problem">{e(result.error)}</div>')
    elif not result.picks:
        parts.append('<div class="dc-empty">No candidates: lower the minimum number of ratings.</div>')
    for p in result.picks:
        parts.append(_render_pick(p))
    parts.append("</div>")
    return "".join(parts)


def _helpful(votes: int) -> str:
    """``1 person found this helpful`` / ``12 people ...``."""
    return f"{votes:,} {'person' if votes == 1 else 'people'} found this helpful"


def _render_pick(p: Pick) -> str:
    e = html.escape
    review = ""
    if p.review_excerpt or p.review_title:
        votes = f'<div class="dc-votes">{_helpful(p.review_helpful_votes)}</div>' if p.review_helpful_votes else ""
        review = (f'<blockquote class="dc-review"><div class="dc-qlabel">{e(p.review_kind.capitalize())} review'
                  f'</div><div class="dc-clamp"><span class="dc-rstars">{_stars(p.review_rating)}</span> '
                  f'<b>{e(p.review_title or "")}</b> {e(p.review_excerpt)}</div>{votes}</blockquote>')
    title = (e(p.title) if p.title else
             f'{e(p.parent_asin)} <span class="dc-meta">(no details in the item file)</span>')
    return (
        f'<article class="dc-pick" data-asin="{e(p.parent_asin)}">'
        f'<div class="dc-rank">{p.rank}</div>'
        f'<div><div class="dc-title">{title}</div>'
        f'<div class="dc-meta">{e(p.store or "unknown store")} · {_money(p.price)} · '
        f'mean {p.mean_rating:.1f}★ of {p.n_ratings:,} ratings</div>{review}</div>'
        f'<div class="dc-score">{_pill(p.predicted)}<div class="dc-sub">predicted</div>{_beyond(p)}{_likely(p)}</div>'
        "</article>"
    )


def _beyond(p: Pick) -> str:
    """The model's score when it lies outside 1-5 (what ranks the picks that all show "5.0★")."""
    if p.model_score is None:
        return ""
    return f'<div class="dc-sub dc-raw">model score {p.model_score:.2f}</div>'


def _likely(p: Pick) -> str:
    if p.likely_percentile is None:
        return ""
    return f'<div class="dc-sub dc-likely">likely: top {max(100 - p.likely_percentile, 0.1):.1f}%</div>'


def render_details(item: dict[str, Any] | None) -> str:
    """A product's facts as HTML."""
    if item is None:
        return '<div class="dc-empty">Pick a product in the search results to see it and rate it.</div>'
    e = html.escape
    chips = "".join(f'<span class="dc-chip">{e(c)}</span>' for c in item["categories"])
    yours = f'<span>your rating <b>{item["your_rating"]}★</b></span>' if item["your_rating"] else ""
    warn = ("" if item["known_to_model"] else
            '<div class="dc-warn">The chosen model was not trained on this product: rating it will not '
            "move the picks.</div>")
    return (
        f'<div class="dc-detail" data-asin="{e(item["parent_asin"])}"><h3>{e(item["title"])}</h3>'
        f'<div class="dc-facts"><span>{e(item["store"] or "unknown store")}</span>'
        f'<span><b>{_money(item["price"])}</b></span>'
        f'<span>mean <b>{item["mean_rating"]:.1f}★</b> of <b>{item["n_ratings"]:,}</b> ratings</span>'
        f'<span class="dc-meta">{e(item["parent_asin"])}</span>{yours}</div>'
        f'<div class="dc-chips">{chips}</div>{warn}</div>'
    )


def render_problems(data: DashboardData) -> str:
    """The page shown when there is nothing to pick with: what went wrong and the commands that fix it."""
    e = html.escape
    items = "".join(f"<li>{_code(e(p))}</li>" for p in data.problems)
    build = "" if len(data.catalogue) else "deepcart build    # the embedded synthetic dataset, tag 'synthetic'\n"
    return (
        '<div class="dc-problem"><h2>deepcart cannot show picks yet</h2>'
        f"<ul>{items}</ul></div>"
        f'<div class="dc-help"><h3>Get a model</h3><pre>{build}{e(data.train_hint)}\n'
        f"deepcart serve --data-tag {e(data.data_tag)} --model DIR</pre>"
        "<p>Several <code>--model</code> options load several models; the page lets you switch.</p></div>"
    )


def _code(text: str) -> str:
    """Turn `backticks` in an (escaped) message into <code>."""
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _star_chart():
    """A grouped bar chart: share of 1..5-star reviews among the picks vs. the candidate catalogue."""
    from bokeh.models import ColumnDataSource, NumeralTickFormatter, Range1d
    from bokeh.plotting import figure
    from bokeh.transform import dodge

    source = ColumnDataSource({"stars": ["1★", "2★", "3★", "4★", "5★"], "picks": [0.0] * 5,
                               "catalogue": [0.0] * 5})
    fig = figure(x_range=source.data["stars"], height=260, sizing_mode="stretch_width", toolbar_location=None,
                 tools="", title="Stars of the reviews: picks vs. catalogue")
    fig.vbar(x=dodge("stars", -0.17, range=fig.x_range), top="picks", width=0.32, source=source,
             color=ACCENT, legend_label="picks")
    fig.vbar(x=dodge("stars", 0.17, range=fig.x_range), top="catalogue", width=0.32, source=source,
             color="#a8a29e", legend_label="catalogue")
    fig.yaxis.formatter = NumeralTickFormatter(format="0%")
    fig.y_range = Range1d(0, 1)  # set from the data on each refresh, with room above the tallest bar
    legend = fig.legend[0]
    legend.orientation = "horizontal"
    legend.border_line_color = None
    legend.background_fill_alpha = 0
    fig.add_layout(legend, "above")
    fig.xgrid.grid_line_color = None
    fig.outline_line_color = None
    return fig, source


class DashboardView:
    """The widgets of one browser session, wired to one :class:`DashboardSession`."""

    def __init__(self, session: DashboardSession):
        import pandas as pd

        self._pd = pd
        self.session = session
        self.last_active = time.monotonic()
        data = session.data
        self.version = 0
        self.selected: str | None = None
        self._asked: tuple[str, str] | None = None  # the action a confirmation question is about
        self._results: list[str] = []

        # sidebar: model, filters, start as a user, the person's ratings
        self.model_select = pn.widgets.Select(label="Model", options=list(data.models), value=session.model_name,
                                              visible=len(data.models) > 1, sizing_mode="stretch_width")
        self.model_note = pn.pane.HTML(self._model_note(), visible=len(data.models) <= 1,
                                       sizing_mode="stretch_width", stylesheets=[CSS])
        self.direction = pn.widgets.RadioButtonGroup(
            label="Show", options={"Worst picks": "worst", "Best picks": "best"}, value=session.direction,
            color="default", variant="outline", sizing_mode="stretch_width")
        self.k_select = pn.widgets.Select(label="Number of picks", options=list(K_CHOICES), value=session.k,
                                          sizing_mode="stretch_width")
        top = int(data.catalogue.n_ratings.max()) if len(data.catalogue) else 100
        end = max(20, min(top, 500))
        self.engagement = pn.widgets.IntSlider(label="At least this many ratings", start=0, end=end,
                                               value=min(session.min_engagement, end), step=1,
                                               sizing_mode="stretch_width")
        session.set_min_engagement(self.engagement.value)
        self.user_suggest = pn.widgets.Select(
            label="Start as an existing user",
            options={"choose a user …": "", **{f"{u[:14]}… ({n} ratings)": u for u, n in data.sample_users}},
            sizing_mode="stretch_width")
        self.user_input = pn.widgets.TextInput(placeholder="or paste a user_id", sizing_mode="stretch_width")
        self.user_button = pn.widgets.Button(label="Start as this user", color="default",
                                             sizing_mode="stretch_width")
        self.download = pn.widgets.FileDownload(
            callback=self._download, filename=session.download_name(), label="Download my ratings (JSONL)",
            color="primary", embed=False, sizing_mode="stretch_width")
        self.clear_button = pn.widgets.Button(label="Clear my ratings", color="light",
                                              sizing_mode="stretch_width")
        self.ratings_table = pn.widgets.Tabulator(
            self._ratings_frame(), show_index=False, disabled=True, selectable=False, sortable=False,
            height=220, layout="fit_columns", widths={"★": 44, "remove": 40}, buttons={"remove": "✕"},
            formatters={"Product": {"type": "textarea"}},
            hidden_columns=["parent_asin"], theme="fast", css_classes=["dc-rated"], sizing_mode="stretch_width")
        self.ratings_label = pn.pane.Markdown(self._ratings_label(), margin=(10, 10, 0, 10))

        # main: messages, search + details + rating, picks, chart
        self.alert = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")
        self.search = pn.widgets.TextInput(label="Find products by title words",
                                           placeholder="e.g. wireless headphones, usb c hub, cable",
                                           sizing_mode="stretch_width")
        self.result_count = pn.pane.HTML("", margin=(0, 10), stylesheets=[CSS])
        self.results = pn.widgets.Tabulator(
            self._results_frame([]), show_index=False, disabled=True, selectable=1, sortable=False,
            height=260, layout="fit_columns", hidden_columns=["parent_asin"], theme="fast",
            widths={"Price": 82, "Mean": 62, "Ratings": 74}, css_classes=["dc-results"],
            formatters={"Title": {"type": "textarea"}},  # long titles wrap instead of being cut
            visible=False, sizing_mode="stretch_width")  # shown with the first search
        self.details = pn.pane.HTML(render_details(None), sizing_mode="stretch_width", stylesheets=[CSS])
        self.review_title = pn.widgets.TextInput(label="Review title (optional)", placeholder="Sum it up",
                                                 sizing_mode="stretch_width")
        self.review_text = pn.widgets.TextAreaInput(label="Review (optional)", placeholder="What did you think?",
                                                    rows=1, auto_grow=True, max_rows=6, sizing_mode="stretch_width")
        colours = {1: "warning", 2: "warning", 3: "default", 4: "success", 5: "success"}
        self.star_buttons = [pn.widgets.Button(label=f"{s} ★", color=colours[s], disabled=True, width=54)
                             for s in range(1, 6)]  # five fit beside "Rate it:" in a narrow column
        self.picks_pane = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS])
        self.chart, self.chart_source = _star_chart()

        # Every handler runs through _soon: under the document lock, with its errors shown in the page.
        self.model_select.param.watch(self._soon(self._on_model), "value")
        self.direction.param.watch(self._soon(self._on_direction), "value")
        self.k_select.param.watch(self._soon(self._on_k), "value")
        self.engagement.param.watch(self._soon(self._on_engagement), "value_throttled")
        self.user_suggest.param.watch(self._soon(lambda e: setattr(self.user_input, "value", e.new)), "value")
        self.user_button.on_click(self._soon(self._on_start_user))
        self.clear_button.on_click(self._soon(self._on_clear))
        self.ratings_table.on_click(self._soon(self._on_remove), column="remove")
        self.search.param.watch(self._soon(self._on_search), "value_input")
        self.results.param.watch(self._soon(self._on_select), "selection")
        for stars, button in enumerate(self.star_buttons, start=1):
            button.on_click(self._soon(lambda _e, s=stars: self.rate(s)))
        self.refresh()

    def _soon(self, handler):
        """``handler`` wrapped for a browser event: run on the document's next tick, then its errors shown.

        Panel delivers some events (a click that also blurs a text box, committing what was typed)
        outside Bokeh's document lock; a handler that then changes a plain Bokeh model (the chart)
        made Bokeh raise, the rating half-done and nothing said. On the next tick the lock is held,
        and the text box's new value has arrived. Without a served document (tests) it runs at once.
        """
        def guarded(*args) -> None:
            try:
                handler(*args)
            except Exception as exc:  # a bug must not vanish into the server log: say it in the page
                LOG.exception("dashboard callback failed")
                self.notify(Notice("danger", f"Something went wrong: {type(exc).__name__}: {exc}"))

        def run(*args) -> None:
            self.last_active = time.monotonic()  # what the server's idle check reads
            doc = pn.state.curdoc
            if doc is not None and doc.session_context is not None:
                doc.add_next_tick_callback(lambda: guarded(*args))
            else:
                guarded(*args)

        return run

    # -- events -------------------------------------------------------------------------------------

    def _on_model(self, event) -> None:
        self.session.set_model(event.new)
        self.model_note.object = self._model_note()
        self._show_details()
        self.refresh()

    def _on_direction(self, event) -> None:
        self.session.set_direction(event.new)
        self.refresh()

    def _on_k(self, event) -> None:
        self.session.set_k(event.new)
        self.refresh()

    def _on_engagement(self, event) -> None:
        self.session.set_min_engagement(event.new)
        self.refresh()

    def _on_search(self, event) -> None:
        self.run_search(event.new)

    def _on_select(self, event) -> None:
        rows = event.new
        self.selected = self._results[rows[0]] if rows and rows[0] < len(self._results) else None
        self._show_details()

    def _on_start_user(self, _event) -> None:
        user = self.user_input.value
        notice = self.session.start_as_user(user, confirmed=self._asked == ("start", user))
        self._asked = ("start", user) if notice.level == "confirm" else None
        self.notify(notice)
        self._show_details()
        self.refresh()

    def _on_clear(self, _event) -> None:
        self.session.clear()
        self.notify(Notice("info", "Your ratings were cleared."))
        self._show_details()
        self.refresh()

    def _on_remove(self, event) -> None:
        frame = self.ratings_table.value
        if 0 <= event.row < len(frame):
            self.session.unrate(frame["parent_asin"].iloc[event.row])
            self._show_details()
            self.refresh()

    def _download(self) -> io.BytesIO:
        return io.BytesIO(self.session.to_jsonl().encode("utf-8"))

    # -- actions (also called by tests and the benchmark) ---------------------------------------------

    def run_search(self, query: str) -> None:
        """Show the products matching ``query``."""
        products, total = self.session.search(query) if query.strip() else ([], 0)
        self._results = [p["parent_asin"] for p in products]
        self.results.value = self._results_frame(products)
        self.results.selection = []
        self.results.visible = bool(query.strip())
        shown = f"{len(products)} of {total:,}" if total > len(products) else f"{total:,}"
        self.result_count.object = (f'<div class="dc-meta">{shown} products match</div>' if query.strip() else "")

    def select(self, parent_asin: str) -> None:
        """Show a product's details and enable the rating buttons."""
        self.selected = parent_asin
        self._show_details()

    def rate(self, stars: int) -> float | None:
        """Rate the selected product; the picks update right away. Returns the milliseconds it took."""
        if self.selected is None:
            return None
        started = time.perf_counter()
        notice = self.session.rate(self.selected, stars, title=self.review_title.value, text=self.review_text.value)
        elapsed = self.refresh(started)
        self.notify(notice)
        self.review_title.value = self.review_text.value = ""
        self._show_details()
        return elapsed

    def refresh(self, started: float | None = None) -> float:
        """Recompute the picks, then what else depends on the ratings; returns the picks' milliseconds.

        The picks list is updated first, and the time from ``started`` (the rating) to that update is
        what the page shows; the chart and the ratings table follow.
        """
        started = time.perf_counter() if started is None else started
        session = self.session
        result = session.picks()
        notes = []
        if result.unknown:
            notes.append(f"{len(result.unknown)} of your rated products are unknown to this model and do not "
                         "count.")
        model = session.model
        if model is not None and not model.personalised and session.ratings:
            notes.append(f"{model.recommender} ignores your ratings: choose a personalised model to see the "
                         "picks move.")
        self.version += 1
        elapsed = (time.perf_counter() - started) * 1000
        self.picks_pane.object = render_picks(result, version=self.version, refresh_ms=elapsed, notes=notes)
        shares = session.star_shares(result.picks)
        self.chart_source.data = {"stars": ["1★", "2★", "3★", "4★", "5★"], "picks": list(shares["picks"]),
                                  "catalogue": list(shares["catalogue"])}
        # room above the tallest bar (a fixed or automatic top cut a 60% bar and its tooltip)
        top = max([0.0, *shares["picks"], *shares["catalogue"]])
        self.chart.y_range.end = min(1.0, top * 1.15) if top > 0 else 1.0
        self.ratings_table.value = self._ratings_frame()
        self.ratings_label.object = self._ratings_label()
        return elapsed

    def notify(self, notice: Notice) -> None:
        """Show a message above the search box (a question as a warning)."""
        self.alert.alert_type = "warning" if notice.level == "confirm" else notice.level
        self.alert.object = notice.text
        self.alert.visible = bool(notice.text)

    # -- helpers ------------------------------------------------------------------------------------

    def _show_details(self) -> None:
        item = self.session.details(self.selected) if self.selected else None
        self.details.object = render_details(item)
        for button in self.star_buttons:
            button.disabled = item is None

    def _model_note(self) -> str:
        model = self.session.model
        if model is None:
            return ""
        folder = "" if model.folder.name == model.recommender else f" ({html.escape(model.folder.name)})"
        return f'<div class="dc-meta">Model: <b>{html.escape(model.recommender)}</b>{folder}</div>'

    def _ratings_label(self) -> str:
        n = len(self.session.ratings)
        who = f" (started as {self.session.started_from[:12]}…)" if self.session.started_from else ""
        return f"**Your ratings: {n}**{who}"

    def _ratings_frame(self):
        rows = self.session.rated_rows()
        return self._frame({"parent_asin": [r["parent_asin"] for r in rows],
                            "Product": [r["title"] for r in rows],
                            "★": [r["stars"] for r in rows]})

    def _results_frame(self, products: list[dict[str, Any]]):
        return self._frame({
            "parent_asin": [p["parent_asin"] for p in products],
            "Title": [p["title"] for p in products],
            "Price": [_money(p["price"]) if p["price"] is not None else "" for p in products],
            "Mean": [f'{p["mean_rating"]:.1f}★' for p in products],
            "Ratings": [p["n_ratings"] for p in products],
        })

    def _frame(self, columns: dict[str, list]):
        # object columns: Panel 1.9's Tabulator shows pandas 3's string dtype as NaN
        return self._pd.DataFrame({name: self._pd.Series(values, dtype=object) for name, values in columns.items()})

    # -- layout -------------------------------------------------------------------------------------

    def sidebar(self) -> list:
        """The sidebar's contents."""
        return [
            pn.pane.Markdown("### What to show", margin=(0, 10)),
            self.model_select, self.model_note, self.direction, self.k_select, self.engagement,
            pn.layout.Divider(),
            self.user_suggest, self.user_input, self.user_button,
            pn.layout.Divider(),
            self.ratings_label, self.ratings_table, self.download, self.clear_button,
            pn.pane.HTML('<div class="dc-meta">Your ratings stay in this browser session. They are never '
                         "written into the dataset; download them to use with "
                         "<code>deepcart recommend --ratings FILE</code>.</div>", stylesheets=[CSS],
                         sizing_mode="stretch_width"),
        ]

    def main(self) -> list:
        """The main area's contents."""
        rating_row = pn.Row(pn.pane.HTML('<div class="dc-meta" style="padding-top:8px">Rate it:</div>',
                                         stylesheets=[CSS], width=60), *self.star_buttons)
        finder = pn.Card(
            pn.pane.HTML('<div class="dc-head"><h2>Find and rate products</h2></div>', stylesheets=[CSS],
                         sizing_mode="stretch_width", margin=(0, 10)),
            self.alert, self.search, self.result_count, self.results, self.details,
            pn.Row(self.review_title, self.review_text, sizing_mode="stretch_width"), rating_row,
            hide_header=True, collapsible=False, sizing_mode="stretch_width")
        chart = pn.Card(pn.pane.Bokeh(self.chart, sizing_mode="stretch_width"), hide_header=True,
                        collapsible=False, sizing_mode="stretch_width")
        picks = pn.Card(self.picks_pane, hide_header=True, collapsible=False, sizing_mode="stretch_width")
        return [pn.Row(pn.Column(finder, chart, sizing_mode="stretch_width", min_width=440, margin=(0, 8, 0, 0)),
                       pn.Column(picks, sizing_mode="stretch_width", min_width=440, margin=(0, 0, 0, 8)),
                       sizing_mode="stretch_width")]


def template(title: str = "deepcart"):
    """An offline FastListTemplate in deepcart's colours."""
    return pn.template.FastListTemplate(
        title=title, design=OfflineFast, font=FONT, font_url="", theme_toggle=False, accent=ACCENT,
        header_background=HEADER, sidebar_width=330, main_layout=None, main_max_width="1500px",
        meta_description="deepcart: the worst (and best) products for you, from Amazon reviews")


def make_app(data: DashboardData, on_view=None):
    """A fresh page (and session) for one browser session; ``on_view(view)`` sees its view."""
    page = template(f"deepcart · {data.data_tag}")
    if not data.usable:
        page.main.append(pn.pane.HTML(render_problems(data), stylesheets=[CSS], sizing_mode="stretch_width",
                                      max_width=900))
        return page
    view = DashboardView(DashboardSession(data))
    if on_view is not None:
        on_view(view)
    if data.problems:
        view.notify(Notice("warning", " ".join(data.problems)))
    page.sidebar.extend(view.sidebar())
    page.main.extend(view.main())
    return page
