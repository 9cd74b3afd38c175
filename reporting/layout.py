"""The sheet as sections of rows and charts: one layout shared by the page, the CSV, the XLSX and the PDF.

The KPI labels are the pilot sheet's German labels (DOMAIN.md); they are still marked for translation.
Every cell of the pilot's sheet carries the path of its figure in the API's JSON (e.g. ``rejected.other``)
so that the page and the tests can say which number is which.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from institutions.models import KPI_KIND_LABELS
from referrals.models import ClosureGround, Status
from referrals.rules import TARGET_GROUP_DESCRIPTIONS

from .kpi import KINDS, OUTCOMES, REJECTION_REASONS, TARGET_GROUPS

# Okabe-Ito colours: distinguishable with colour-blindness; never the only signal (every chart has a table).
KIND_COLOURS = {"iv": "#0072B2", "rav": "#E69F00", "social": "#009E73"}
OUTCOME_COLOURS = {"successful": "#009E73", "partial": "#56B4E9", "not_achieved": "#D55E00", "other": "#999999"}
SERIES_COLOURS = ["#0B5394", "#E69F00", "#009E73", "#D55E00"]

REJECTION_LABELS = {
    "iv_rejection_recent": gettext_lazy("IV-Ablehnung < 1 Jahr zurück"),
    "no_intact_work_offer": gettext_lazy("Kein intaktes Arbeitsangebot"),
    "no_capacity": gettext_lazy("Keine Kapazität"),
    "goal_not_feasible": gettext_lazy("Zielsetzung nicht realisierbar"),
    "other": gettext_lazy("Sonstige"),
}
# The pilot sheet lists "Sonstige" before "Zielsetzung nicht realisierbar".
REJECTION_SHEET_ORDER = ("iv_rejection_recent", "no_intact_work_offer", "no_capacity", "other", "goal_not_feasible")
OUTCOME_LABELS = {
    "successful": gettext_lazy("Auftrag erfolgreich umgesetzt"),
    "partial": gettext_lazy("Auftrag teilweise umgesetzt"),
    "not_achieved": gettext_lazy("Auftrag nicht umgesetzt"),
    "other": gettext_lazy("Sonstige"),
}
COST_LABELS = {
    "requested": gettext_lazy("Anträge auf Kostengutsprache"),
    "approved": gettext_lazy("Bewilligte Kostengutsprachen"),
    "refused": gettext_lazy("Abgelehnte Kostengutsprachen"),
}
# The flows OPTIMA knows (DOMAIN.md): between kinds, and between two social services.
FLOWS = (("iv", "rav"), ("iv", "social"), ("rav", "iv"), ("rav", "social"), ("social", "iv"), ("social", "rav"),
         ("social", "social"))

assert set(REJECTION_SHEET_ORDER) == set(REJECTION_REASONS) and set(OUTCOME_LABELS) == set(OUTCOMES)


@dataclass
class Cell:
    value: object
    key: str = ""  # path in the API's JSON, for cells of the pilot's sheet
    kind: str = "number"  # number | text | chf | days | months

    @property
    def display(self):
        return format_value(self.value, self.kind)


@dataclass
class Row:
    label: str
    cells: list = field(default_factory=list)
    level: int = 0  # 1: a breakdown of the row above
    strong: bool = False
    key: str = ""

    @property
    def is_heading(self):
        return not self.cells


@dataclass
class Section:
    key: str
    title: str
    columns: list
    rows: list
    part: str = "sheet"  # sheet | extra
    note: str = ""
    chart: dict | None = None
    collapse_table: bool = False
    wide: bool = False  # the whole width of the page (long tables, long time series)

    @property
    def header(self):
        """(title, numeric) per column: numbers are right-aligned, and so are their headings."""
        first = next((row for row in self.rows if not row.is_heading), None)
        kinds = [cell.kind for cell in first.cells] if first else []
        return [(title, index > 0 and index <= len(kinds) and kinds[index - 1] != "text")
                for index, title in enumerate(self.columns)]


def kind_label(kind):
    return str(KPI_KIND_LABELS[kind])


def format_value(value, kind="number"):
    if value is None or value == "":
        return "–"
    if kind == "text":
        return str(value)
    if kind == "chf":
        try:
            amount = Decimal(str(value)).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            return str(value)
        whole, cents = f"{amount:,.2f}".split(".")
        return f"{whole.replace(',', '’')}.{cents}"
    if kind in ("days", "months"):
        return f"{float(value):.1f}"
    if isinstance(value, int) and abs(value) >= 1000:
        return f"{value:,}".replace(",", "’")
    return str(value)


def _kind_cells(values, key, with_total=True):
    cells = [Cell(values.get(kind, 0), f"{key}.{kind}") for kind in KINDS]
    if with_total:
        total = values.get("total", sum(values.get(kind, 0) for kind in KINDS))
        cells.append(Cell(total, f"{key}.total"))
    return cells


def _kind_columns(first):
    return [first, *(kind_label(k) for k in KINDS), _("Total")]


def sheet_sections(sheet):
    """The pilot's sheet, section by section, in its order and with its labels."""
    kinds = [kind_label(k) for k in KINDS]
    referrers, receivers = sheet["referrers"], sheet["receivers"]
    parties = Section(
        "parties", _("Auftraggeber und Auftragnehmer"), _kind_columns(_("Institution")),
        [Row(_("Auftraggeber"), _kind_cells(referrers, "referrers"), key="referrers"),
         Row(_("Auftragnehmer"), _kind_cells(receivers, "receivers"), key="receivers")],
        note=_("Auftraggeber: the institution that sends the referral. Auftragnehmer: the one asked to take over."),
        chart={"type": "bar", "title": _("Auftraggeber und Auftragnehmer"), "labels": kinds, "datasets": [
            {"label": _("Auftraggeber"), "data": [referrers[k] for k in KINDS], "color": SERIES_COLOURS[0]},
            {"label": _("Auftragnehmer"), "data": [receivers[k] for k in KINDS], "color": SERIES_COLOURS[1]},
        ]},
    )
    rejected = sheet["rejected"]
    decisions = Section(
        "decisions", _("Anmeldungen und Entscheide"), [_("Figure"), _("Number")],
        [Row(_("Anzahl Anmeldungen"), [Cell(sheet["applications"], "applications")], strong=True, key="applications"),
         Row(_("Angenommene Aufträge"), [Cell(sheet["accepted"], "accepted")], key="accepted"),
         Row(_("Abgelehnte Aufträge"), [Cell(rejected["total"], "rejected.total")], key="rejected.total"),
         *[Row(str(REJECTION_LABELS[r]), [Cell(rejected[r], f"rejected.{r}")], level=1, key=f"rejected.{r}")
           for r in REJECTION_SHEET_ORDER]],
        chart={"type": "bar", "horizontal": True, "title": _("Decisions"),
               "labels": [_("Angenommene Aufträge"), *(str(REJECTION_LABELS[r]) for r in REJECTION_SHEET_ORDER)],
               "datasets": [{"label": _("Number"), "data": [sheet["accepted"], *(rejected[r] for r in
                                                                                   REJECTION_SHEET_ORDER)],
                             "colors": ["#009E73", *["#D55E00"] * len(REJECTION_SHEET_ORDER)]}]},
    )
    cost = sheet["cost_approvals"]
    cost_approvals = Section(
        "cost_approvals", _("Kostengutsprachen"), _kind_columns(_("Figure")),
        [Row(str(COST_LABELS[s]), _kind_cells(cost[s], f"cost_approvals.{s}"), key=f"cost_approvals.{s}")
         for s in ("requested", "approved", "refused")],
        note=_("Counted for the kind of the requesting (leading) institution."),
    )
    outcomes = sheet["closure_outcomes"]
    closures = Section(
        "closures", _("Abgeschlossene Fälle und Abschlussgründe"), _kind_columns(_("Figure")),
        [Row(_("Abgeschlossene Fälle"), _kind_cells(sheet["closed"], "closed"), strong=True, key="closed"),
         Row(_("Abschlussgründe")),
         *[Row(str(OUTCOME_LABELS[o]), _kind_cells(outcomes[o], f"closure_outcomes.{o}"), level=1,
               key=f"closure_outcomes.{o}") for o in OUTCOME_LABELS]],
        note=_("Counted for the kind of the leading institution, i.e. the one that took the case over."),
        chart={"type": "bar", "stacked": True, "title": _("Abschlussgründe"), "labels": kinds, "datasets": [
            {"label": str(OUTCOME_LABELS[o]), "data": [outcomes[o][k] for k in KINDS], "color": OUTCOME_COLOURS[o]}
            for o in OUTCOME_LABELS]},
    )
    return [parties, decisions, cost_approvals, closures]


def extra_sections(extras):
    """The figures the pilot's sheet could not give: flows, target groups, waiting times, durations, costs."""
    sections = []
    flows = extras["flows"]
    sections.append(Section(
        "flows", _("Referrals by flow"), _kind_columns(_("From → to")),
        [Row(kind_label(src), [*(Cell(flows[src][dst]) for dst in KINDS), Cell(sum(flows[src].values()))])
         for src in KINDS],
        part="extra", note=_("Rows: the referring institution's kind; columns: the receiving institution's kind."),
        chart={"type": "bar", "horizontal": True, "title": _("Referrals by flow"),
               "labels": [f"{kind_label(s)} \u2192 {kind_label(d)}" for s, d in FLOWS],
               "datasets": [{"label": _("Referrals"), "data": [flows[s][d] for s, d in FLOWS],
                             "color": SERIES_COLOURS[0]}]},
    ))
    groups = extras["target_groups"]
    group_labels = [*TARGET_GROUPS, "none"]
    sections.append(Section(
        "target_groups", _("Referrals by target group"), [_("Target group"), _("Who"), _("Referrals")],
        [Row(g if g != "none" else _("none"),
             [Cell(str(TARGET_GROUP_DESCRIPTIONS.get(g, _("Social services to social services"))), kind="text"),
              Cell(groups[g])]) for g in group_labels],
        part="extra", wide=True,
        note=_("Derived from who refers, who receives and the client's situation (concept chapter 4)."),
        chart={"type": "bar", "title": _("Referrals by target group"),
               "labels": [g if g != "none" else _("none") for g in group_labels],
               "datasets": [{"label": _("Referrals"), "data": [groups[g] for g in group_labels],
                             "color": SERIES_COLOURS[0]}]},
    ))
    waits = extras["waiting_times"]
    wait_rows = []
    for key, label in (("decision", _("From submission to decision")),
                       ("handover", _("From acceptance to handover meeting"))):
        stats = waits[key]["all"]
        wait_rows.append(Row(label, [Cell(stats["count"]), Cell(stats["median"], kind="days"),
                                     Cell(stats["p90"], kind="days")], strong=True))
        for kind in KINDS:
            stats = waits[key][kind]
            wait_rows.append(Row(_("received by %(kind)s") % {"kind": kind_label(kind)},
                                 [Cell(stats["count"]), Cell(stats["median"], kind="days"),
                                  Cell(stats["p90"], kind="days")], level=1))
    sections.append(Section(
        "waiting_times", _("Waiting times in days"), ["", _("Cases"), _("Median"), _("90th percentile")], wait_rows,
        part="extra", note=_("Nine in ten cases waited at most as long as the 90th percentile says."),
        chart={"type": "bar", "horizontal": True, "title": _("Waiting times in days"),
               "labels": [_("Submission to decision"), _("Acceptance to handover")],
               "datasets": [
                   {"label": _("Median"), "data": [waits["decision"]["all"]["median"] or 0,
                                                   waits["handover"]["all"]["median"] or 0],
                    "color": SERIES_COLOURS[0]},
                   {"label": _("90th percentile"), "data": [waits["decision"]["all"]["p90"] or 0,
                                                            waits["handover"]["all"]["p90"] or 0],
                    "color": SERIES_COLOURS[1]}]},
    ))
    durations = extras["case_durations"]
    sections.append(Section(
        "case_durations", _("Case duration of closed cases"),
        [_("Leading institution"), _("Cases"), _("Planned"), _("Actual"), _("Within plan")],
        [*(Row(kind_label(k), _duration_cells(durations[k])) for k in KINDS),
         Row(_("Total"), _duration_cells(durations["all"]), strong=True)],
        part="extra",
        note=_("Planned and actual: median in months. Actual: from the agreed handover to the closing meeting. "
               "Within plan: cases closed within the planned duration."),
    ))
    grounds = extras["closure_grounds"]
    sections.append(Section(
        "closure_grounds", _("Grounds for closing"), [_("Ground"), _("Closed cases")],
        [Row(str(label), [Cell(grounds.get(code, 0))]) for code, label in ClosureGround.choices],
        part="extra",
    ))
    amounts = extras["cost_amounts"]
    states = ("requested", "approved", "refused")
    sections.append(Section(
        "cost_amounts", _("Cost approval amounts in CHF"),
        [_("Requesting institution"), _("Requested"), _("Approved"), _("Refused")],
        [*(Row(kind_label(k), [Cell(amounts[s][k], kind="chf") for s in states]) for k in KINDS),
         Row(_("Total"), [Cell(amounts[s]["total"], kind="chf") for s in states], strong=True)],
        part="extra", note=_("Amounts of the measures, counted for the kind of the requesting (leading) institution."),
    ))
    money = extras.get("money_by_institution", [])  # snapshots from before issue 11 lack it
    sections.append(Section(
        "money", _("Measures: approved, invoiced and open in CHF"),
        [_("Financing institution"), _("Approved"), _("Invoiced"), _("Open")],
        [*(Row(m["institution"], [Cell(m[k], kind="chf") for k in ("approved", "invoiced", "open")]) for m in money),
         Row(_("Total"), [Cell(str(sum(Decimal(m[k]) for m in money)), kind="chf")
                          for k in ("approved", "invoiced", "open")], strong=True)],
        part="extra",
        note=_("Per institution that pays (where the client is entitled to benefits): cost approvals signed and "
               "provider invoices recorded in the period; open = approved minus invoiced."),
    ))
    trend = extras["trend"]
    sections.append(Section(
        "trend", _("Monthly trend"), [_("Month"), _("Anzahl Anmeldungen"), _("Abgeschlossene Fälle")],
        [Row(_month_label(m["month"]), [Cell(m["applications"]), Cell(m["closed"])]) for m in trend],
        part="extra", collapse_table=len(trend) > 12, wide=True,
        chart={"type": "bar", "title": _("Monthly trend"), "labels": [_month_label(m["month"]) for m in trend],
               "datasets": [
                   {"label": _("Anzahl Anmeldungen"), "data": [m["applications"] for m in trend],
                    "color": SERIES_COLOURS[0]},
                   {"label": _("Abgeschlossene Fälle"), "data": [m["closed"] for m in trend],
                    "color": SERIES_COLOURS[2]}]} if trend else None,
    ))
    open_now = extras["open_now"]
    sections.append(Section(
        "open_now", _("Open referrals today"), [_("Status"), _("Referrals")],
        [Row(str(Status(code).label), [Cell(open_now.get(code, 0))]) for code in
         (Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE)],
        part="extra", note=_("The state of things when the figures were computed, whatever the period."),
    ))
    return sections


def trend_by_year(extras):
    """The monthly trend as two year-by-month tables (compact for print: one row per year)."""
    years = {}
    for month in extras["trend"]:
        year, number = month["month"].split("-")
        years.setdefault(year, {})[int(number)] = month
    sections = []
    for key, title in (("applications", _("Anzahl Anmeldungen")), ("closed", _("Abgeschlossene Fälle"))):
        rows = []
        for year, months in years.items():
            values = [months[m][key] if m in months else None for m in range(1, 13)]
            rows.append(Row(year, [*(Cell(v) for v in values), Cell(sum(v or 0 for v in values))]))
        sections.append(Section(f"trend_{key}", _("%(figure)s per month") % {"figure": title},
                                [_("Year"), *(f"{m:02d}" for m in range(1, 13)), _("Total")], rows, part="extra"))
    return sections


# The PDF lists at most this many financing institutions by name (the largest amounts), the rest in one row:
# WeasyPrint needs ~6 ms per table row, so a national list of a thousand institutions alone took seconds.
# The CSV and the XLSX keep every institution; the total row is the same everywhere.
PRINT_MONEY_ROWS = 25


def money_rows_for_print(rows, limit=PRINT_MONEY_ROWS):
    """The rows of the "money" section for print: the `limit` institutions with the largest amounts (in the order
    of the list), the others summed up in one row, then the total row as it was."""
    *institutions, total = rows
    if len(institutions) <= limit + 1:  # one "others" row would save nothing
        return rows

    def volume(row):
        return sum(Decimal(str(cell.value)) for cell in row.cells[:2])  # approved + invoiced

    largest = set(map(id, sorted(institutions, key=volume, reverse=True)[:limit]))
    kept = [row for row in institutions if id(row) in largest]
    others = [row for row in institutions if id(row) not in largest]
    summed = [Cell(str(sum(Decimal(str(row.cells[i].value)) for row in others)), kind="chf") for i in range(3)]
    return [*kept, Row(f"{_('Other institutions')} ({len(others)})", summed), total]


def _duration_cells(stats):
    return [Cell(stats["count"]), Cell(stats["median_planned_months"], kind="months"),
            Cell(stats["median_actual_months"], kind="months"), Cell(stats["within_plan"])]


def _month_label(month):
    year, number = month.split("-")
    return f"{number}.{year}"


def all_sections(figures):
    return [*sheet_sections(figures["sheet"]), *extra_sections(figures["extras"])]


def reason_label(to_status, code):
    labels = REJECTION_LABELS if to_status == Status.REJECTED else OUTCOME_LABELS
    return str(labels.get(code, code))


def ground_label(code):
    return str(ClosureGround(code).label) if code in ClosureGround.values else ""
