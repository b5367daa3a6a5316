"""Excel workbooks as datasets: the first sheet (or ``book.xlsx#Sheet``), row form.

The first non-empty row is the header; every later row with a value is a record,
numbered as Excel numbers its rows. Cells keep their usual text form: an
integer-valued number reads as ``7`` (not ``7.0``), other numbers as Python's
shortest form, dates in ISO form. Empty cells are missing fields. openpyxl is
imported here only, so collection without a workbook never loads it.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pytest_aicr.errors import DatasetError
from pytest_aicr.readers import RawRow, column_names, row_fields


def read_xlsx(path: Path, data: bytes, sheet: str | None) -> Iterator[RawRow]:
    """Yield the records of one sheet of a workbook."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
        raise _unreadable(path, 1, exc) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise DatasetError(
                f"{path}:1: no sheet {sheet!r} in the workbook; its sheets are "
                f"{', '.join(map(repr, book.sheetnames))}"
            )
        name = sheet if sheet is not None else book.sheetnames[0]
        worksheet = book[name]
        if not hasattr(worksheet, "iter_rows"):
            raise DatasetError(
                f"{path}:1: sheet {name!r} holds a chart, not rows; name the sheet "
                "with the data as book.xlsx#Sheet"
            )
        yield from _sheet_rows(path, worksheet, name)
    except (DatasetError, GeneratorExit):
        raise
    except Exception as exc:  # damaged sheet XML shows up only while reading rows
        raise _unreadable(path, 1, exc) from None
    finally:
        book.close()


def _unreadable(path: Path, line: int, exc: Exception) -> DatasetError:
    return DatasetError(
        f"{path}:{line}: not a readable .xlsx workbook ({type(exc).__name__}); "
        "save it from Excel as 'Excel Workbook (.xlsx)'"
    )


def _sheet_rows(path: Path, sheet: Any, name: str) -> Iterator[RawRow]:
    names: list[str] | None = None
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = [cell_text(value) for value in values]
        if not any(cell.strip() for cell in cells):
            continue
        where = f"{path}:{number} (sheet {name!r})"
        if names is None:
            names = column_names(where, [c.strip() for c in cells])
            continue
        fields = row_fields(where, names, cells)
        yield RawRow(path, number, fields, sheet=name)


def cell_text(value: object) -> str:
    """A cell's value in its usual text form; an empty cell is ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def xlsx_bytes(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]
) -> bytes:
    """Text cells as a one-sheet workbook; text is never taken for a formula.

    ``path`` only names the file in the messages.
    """
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    table = [header, *rows]
    for number, values in enumerate(table, start=1):
        if any(ILLEGAL_CHARACTERS_RE.search(value) for value in values):
            raise DatasetError(
                f"{path}:{number}: a value holds control characters that .xlsx "
                "cannot store; convert to .jsonl instead"
            )
        if any("\r" in value for value in values):
            raise DatasetError(
                f"{path}:{number}: a value holds carriage returns, which .xlsx turns "
                "into line feeds; convert to .jsonl or .csv instead"
            )
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("samples")
    for values in table:
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value or None)
            if value:
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
