"""A statement as CSV, XLSX and PDF: reference, months, rate, amount per case and the total. No client name."""

import csv
import io

from django.template.loader import render_to_string
from django.utils.translation import gettext as _


def _header():
    return [_("Reference"), _("Months"), _("Rate (CHF)"), _("Amount (CHF)")]


def _meta(statement):
    rows = [(_("Statement"), statement.number),
            (_("Month"), statement.month.strftime("%m.%Y")),
            (_("Billing institution"), statement.billing_institution.name),
            (_("Billed institution"), statement.billed_institution.name),
            (_("Issued"), statement.issued_at.strftime("%d.%m.%Y"))]
    if statement.corrects_id:
        rows.append((_("Corrects statement"), statement.corrects.number))
    return rows


def _safe(text):
    """No spreadsheet formulas from data (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def to_csv(statement):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    for label, value in _meta(statement):
        writer.writerow([label, _safe(value)])
    writer.writerow([])
    writer.writerow(_header())
    for line in statement.lines.all():
        writer.writerow([_safe(line.reference), line.months, f"{line.rate_chf:.2f}", f"{line.amount_chf:.2f}"])
    writer.writerow([_("Total"), "", "", f"{statement.total_chf:.2f}"])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(statement):
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
    bold = workbook.add_format({"bold": True})
    chf = workbook.add_format({"num_format": "#,##0.00"})
    chf_bold = workbook.add_format({"num_format": "#,##0.00", "bold": True})
    sheet = workbook.add_worksheet(statement.number[:31])
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 3, 16)
    row = 0
    for label, value in _meta(statement):
        sheet.write_string(row, 0, label, bold)
        sheet.write_string(row, 1, value)
        row += 1
    row += 1
    for col, title in enumerate(_header()):
        sheet.write_string(row, col, title, bold)
    for line in statement.lines.all():
        row += 1
        sheet.write_string(row, 0, line.reference)
        sheet.write_number(row, 1, line.months)
        sheet.write_number(row, 2, float(line.rate_chf), chf)
        sheet.write_number(row, 3, float(line.amount_chf), chf)
    row += 1
    sheet.write_string(row, 0, _("Total"), bold)
    sheet.write_number(row, 3, float(statement.total_chf), chf_bold)
    workbook.close()
    return output.getvalue()


def to_pdf(statement):
    from weasyprint import HTML

    html = render_to_string("billing/statement_pdf.html", {"statement": statement, "meta": _meta(statement),
                                                           "lines": list(statement.lines.all())})
    return HTML(string=html).write_pdf()
