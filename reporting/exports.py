"""The KPI report as CSV, XLSX and PDF, built from stored figures (aggregates only, never client data).

All three follow ``reporting.layout``: the pilot sheet's sections first, then the figures beyond it.
"""

import csv
import datetime
import io
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from .charts import svg_chart
from .kpi import Period
from .layout import all_sections, money_rows_for_print, trend_by_year

# Characters a spreadsheet may read as the start of a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def period_label(period_json):
    period = Period.from_json(period_json)
    if period.date_from is None and period.date_to is None:
        return _("whole time (since the start of OPTIMA)")
    start = period.date_from.strftime("%d.%m.%Y") if period.date_from else _("the start")
    end = period.date_to.strftime("%d.%m.%Y") if period.date_to else _("today")
    return _("%(start)s to %(end)s") % {"start": start, "end": end}


def generated_label(figures):
    try:
        moment = datetime.datetime.fromisoformat(figures["generated_at"])
    except (KeyError, TypeError, ValueError):
        return ""
    return timezone.localtime(moment).strftime("%d.%m.%Y %H:%M")


def _raw(cell):
    """A cell's value for a spreadsheet: numbers stay numbers, missing values stay empty."""
    if cell.value is None:
        return ""
    if cell.kind == "chf":
        return Decimal(str(cell.value))
    if cell.kind in ("days", "months"):
        return float(cell.value)
    return cell.value


def _safe_text(value):
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _title_lines(figures):
    return [
        [_("OPTIMA-Kennzahlen")],
        [_("Period"), period_label(figures["period"])],
        [_("Computed"), generated_label(figures)],
        [_("Counting rule"), counting_rule()],
    ]


def counting_rule():
    return _("Each figure counts the events that happened in the period: a referral submitted in the period, "
             "accepted in the period, closed in the period. Referrals withdrawn as drafts never count.")


def to_csv(figures):
    """UTF-8 with BOM and semicolons, as Swiss Excel opens it; one block per section."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    for line in _title_lines(figures):
        writer.writerow([_safe_text(v) for v in line])
    for section in all_sections(figures):
        writer.writerow([])
        writer.writerow([_safe_text(section.title)])
        writer.writerow([_safe_text(c) for c in section.columns])
        for row in section.rows:
            values = [_raw(c) if c.kind != "text" else _safe_text(c.value) for c in row.cells]
            writer.writerow([_safe_text(row.label), *values])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(figures):
    """The sheet with XlsxWriter. Strings are written as strings: never turned into formulas or links."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
    styles = {
        "title": workbook.add_format({"bold": True, "font_size": 16, "font_color": "#0B5394"}),
        "section": workbook.add_format({"bold": True, "font_size": 12, "font_color": "#0B5394"}),
        "header": workbook.add_format({"bold": True, "bg_color": "#E7EEF7", "border": 1, "text_wrap": True}),
        "label": workbook.add_format({"border": 1}),
        "label_strong": workbook.add_format({"border": 1, "bold": True}),
        "label_sub": workbook.add_format({"border": 1, "indent": 2}),
        "heading_row": workbook.add_format({"border": 1, "italic": True, "bg_color": "#F7F8FA"}),
        "number": workbook.add_format({"border": 1, "num_format": "0"}),
        "number_strong": workbook.add_format({"border": 1, "num_format": "0", "bold": True}),
        "decimal": workbook.add_format({"border": 1, "num_format": "0.0"}),
        "chf": workbook.add_format({"border": 1, "num_format": "#,##0.00"}),
        "text": workbook.add_format({"border": 1, "text_wrap": True}),
        "muted": workbook.add_format({"font_color": "#495057", "text_wrap": True}),
    }
    sections = all_sections(figures)
    parts = (("sheet", _("Kennzahlen")), ("extra", _("Further figures")))
    sheets = [workbook.add_worksheet(name[:31]) for _part, name in parts]
    data_sheet = workbook.add_worksheet(_("Chart data")[:31])
    data_row = 0
    for sheet, (part, name) in zip(sheets, parts, strict=True):
        sheet.set_column(0, 0, 38)
        sheet.set_column(1, 5, 14)
        sheet.write_string(0, 0, _("OPTIMA-Kennzahlen") if part == "sheet" else name, styles["title"])
        sheet.write_string(1, 0, _("Period"))
        sheet.write_string(1, 1, period_label(figures["period"]))
        sheet.write_string(2, 0, _("Computed"))
        sheet.write_string(2, 1, generated_label(figures))
        if part == "sheet":
            sheet.merge_range(3, 0, 3, 5, counting_rule(), styles["muted"])
            sheet.set_row(3, 45)
        row_index = 5
        for section in (s for s in sections if s.part == part):
            start = row_index
            row_index = _xlsx_section(sheet, section, row_index, styles)
            if section.chart and section.chart.get("labels"):
                data_row = _xlsx_chart(workbook, sheet, data_sheet, data_row, section, start)
                row_index = max(row_index, start + 16)
            row_index += 1
    workbook.close()
    return output.getvalue()


def _xlsx_section(sheet, section, row_index, styles):
    sheet.write_string(row_index, 0, section.title, styles["section"])
    row_index += 1
    if section.note:
        sheet.write_string(row_index, 0, section.note, styles["muted"])
        row_index += 1
    for col, title in enumerate(section.columns):
        sheet.write_string(row_index, col, str(title), styles["header"])
    row_index += 1
    for row in section.rows:
        if row.is_heading:
            sheet.write_string(row_index, 0, row.label, styles["heading_row"])
            for col in range(1, len(section.columns)):
                sheet.write_blank(row_index, col, None, styles["heading_row"])
            row_index += 1
            continue
        label_style = "label_strong" if row.strong else "label_sub" if row.level else "label"
        sheet.write_string(row_index, 0, row.label, styles[label_style])
        for col, cell in enumerate(row.cells, start=1):
            value = _raw(cell)
            if cell.kind == "text":
                sheet.write_string(row_index, col, str(cell.value), styles["text"])
            elif value == "":
                sheet.write_blank(row_index, col, None, styles["number"])
            elif cell.kind == "chf":
                sheet.write_number(row_index, col, float(value), styles["chf"])
            elif cell.kind in ("days", "months"):
                sheet.write_number(row_index, col, value, styles["decimal"])
            else:
                sheet.write_number(row_index, col, value, styles["number_strong" if row.strong else "number"])
        row_index += 1
    return row_index


def _xlsx_chart(workbook, sheet, data_sheet, data_row, section, anchor_row):
    """A native Excel chart next to the section, fed from the 'Chart data' sheet."""
    spec = section.chart
    data_sheet.write_string(data_row, 0, section.title)
    first = data_row + 1
    for i, label in enumerate(spec["labels"]):
        data_sheet.write_string(first + i, 0, str(label))
    for j, dataset in enumerate(spec["datasets"], start=1):
        for i, value in enumerate(dataset["data"]):
            data_sheet.write_number(first + i, j, value or 0)
    last = first + len(spec["labels"]) - 1
    if spec["type"] == "line":
        chart = workbook.add_chart({"type": "line"})
    elif spec.get("horizontal"):
        chart = workbook.add_chart({"type": "bar", **({"subtype": "stacked"} if spec.get("stacked") else {})})
    else:
        chart = workbook.add_chart({"type": "column", **({"subtype": "stacked"} if spec.get("stacked") else {})})
    name = data_sheet.get_name()
    for j, dataset in enumerate(spec["datasets"], start=1):
        series = {"name": str(dataset["label"]), "categories": [name, first, 0, last, 0],
                  "values": [name, first, j, last, j]}
        if dataset.get("colors"):
            series["points"] = [{"fill": {"color": c}} for c in dataset["colors"]]
        elif dataset.get("color"):
            key = "line" if spec["type"] == "line" else "fill"
            series[key] = {"color": dataset["color"]}
        chart.add_series(series)
    chart.set_title({"name": str(spec.get("title", section.title)), "name_font": {"size": 11}})
    chart.set_legend({"position": "bottom"} if len(spec["datasets"]) > 1 else {"none": True})
    if spec.get("horizontal"):
        chart.set_y_axis({"reverse": True})
    chart.set_size({"width": 520, "height": 300})
    sheet.insert_chart(anchor_row, 7, chart)
    return last + 2


def to_pdf(figures):
    """The sheet laid out like the pilot's, with the charts as SVG (WeasyPrint)."""
    from weasyprint import HTML

    sections = all_sections(figures)
    for section in sections:
        if section.key == "trend":  # printed as years by months, not one row per month
            section.rows, section.columns, section.print_tables = [], [], trend_by_year(figures["extras"])
        if section.key == "money":
            section.rows = money_rows_for_print(section.rows)
        size = {"width": 270, "height": 150} if section.part == "sheet" else {"width": 520, "height": 190}
        section.svg = svg_chart(section.chart, **size) if section.chart else ""
    html = render_to_string("reporting/pdf.html", {
        "figures": figures, "sheet_sections": [s for s in sections if s.part == "sheet"],
        "extra_sections": [s for s in sections if s.part == "extra"],
        "period_label": period_label(figures["period"]), "generated_label": generated_label(figures),
        "counting_rule": counting_rule(),
    })
    return HTML(string=html).write_pdf()

