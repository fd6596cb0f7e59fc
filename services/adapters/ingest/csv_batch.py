"""CSV uploads read into native-format models, one result per row. Pure (bytes in, rows out).

Rules, the same for every adapter:
- UTF-8 (a byte-order mark is tolerated), comma-separated, first line is the header.
- Header names are the model's field names (or aliases); an unknown or a missing required
  column rejects the whole upload (`BatchInvalid`): a wrong header is never a per-row error.
- An empty cell means "not given" (the field's default applies).
- List-valued fields take several values separated by ';'.
- No cell may be longer than `max_cell_chars` (and the csv module's own 131072 limit): a
  longer cell rejects the whole upload (`BatchInvalid`), since a cell that long is a broken
  file (e.g. an unclosed quote swallowing the rest), not one bad row.
- Each row is validated on its own; a bad row gets field-level errors whose pointer names
  the column (e.g. '/MIS_START'), and the good rows go on to be published.
"""

from __future__ import annotations

import csv
import io
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from services.adapters.ingest.errors import BatchInvalid, BatchTooLarge
from services.adapters.ingest.mapping import Mapped, MappingContext, MappingFailed, Notice
from services.adapters.ingest.problems import FieldError, field_errors_from_validation

__all__ = ["BatchItem", "CsvRow", "csv_columns", "map_each", "read_csv"]

M = TypeVar("M", bound=BaseModel)

LIST_SEPARATOR = ";"
DEFAULT_MAX_CELL_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class CsvRow(Generic[M]):
    """One data row: its 1-based row number and file line, and the record or its errors."""

    row: int
    line: int
    record: M | None
    errors: tuple[FieldError, ...] = ()


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is list:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    return False


def csv_columns(model: type[BaseModel]) -> tuple[list[str], set[str], set[str]]:
    """(all columns in model order, required columns, list-valued columns)."""
    columns: list[str] = []
    required: set[str] = set()
    lists: set[str] = set()
    for name, info in model.model_fields.items():
        column = info.alias or name
        columns.append(column)
        if info.is_required():
            required.add(column)
        if _is_list(info.annotation):
            lists.add(column)
    return columns, required, lists


def _cell_too_long(limit: int, line: int) -> BatchInvalid:
    return BatchInvalid(
        f"a cell ending on line {line} is longer than the {limit}-character limit; check for "
        "an unclosed quote",
        errors=[
            FieldError(
                pointer="",
                code="cell_too_long",
                message=f"a cell is longer than {limit} characters",
            )
        ],
    )


def _unreadable(error: csv.Error, line: int, limit: int) -> BatchInvalid:
    # The csv module raises csv.Error for a cell over its own field size limit, and for a
    # NUL byte or a broken quote; none of these is a server fault.
    if "field larger than field limit" in str(error):
        return _cell_too_long(limit, line)
    return BatchInvalid(
        f"the file cannot be read as CSV at line {line}",
        errors=[FieldError(pointer="", code="csv_malformed", message="file is not valid CSV")],
    )


def read_csv(
    data: bytes,
    model: type[M],
    *,
    max_rows: int,
    max_cell_chars: int = DEFAULT_MAX_CELL_CHARS,
) -> list[CsvRow[M]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BatchInvalid(
            f"upload is not UTF-8 text (byte {error.start} cannot be decoded); save the file "
            "as UTF-8 CSV",
            errors=[FieldError(pointer="", code="encoding", message="file is not UTF-8")],
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise _unreadable(error, reader.line_num, max_cell_chars) from None
    if header and any(len(name) > max_cell_chars for name in header):
        raise _cell_too_long(max_cell_chars, reader.line_num)
    if not header:
        raise BatchInvalid(
            "upload is empty: expected a header line and at least one row",
            errors=[FieldError(pointer="", code="empty", message="no header line")],
        )
    columns, required, lists = csv_columns(model)
    header_errors = [
        FieldError(
            pointer=f"/{name}",
            code="unknown_column",
            message=f"column {name!r} is not one of: {', '.join(columns)}",
        )
        for name in header
        if name not in columns
    ]
    header_errors += [
        FieldError(pointer=f"/{name}", code="missing_column", message="required column missing")
        for name in columns
        if name in required and name not in header
    ]
    if len(set(header)) != len(header):
        header_errors.append(
            FieldError(pointer="", code="duplicate_column", message="a column name repeats")
        )
    if header_errors:
        raise BatchInvalid(
            "the header line does not match the expected columns", errors=header_errors
        )

    rows: list[CsvRow[M]] = []
    numbered = enumerate(reader, start=1)
    while True:
        try:
            number, raw = next(numbered)
        except StopIteration:
            break
        except csv.Error as error:
            raise _unreadable(error, reader.line_num, max_cell_chars) from None
        if number > max_rows:
            raise BatchTooLarge(f"upload has more than {max_rows} rows; split it")
        line = reader.line_num
        if _longest_cell(raw) > max_cell_chars:
            raise _cell_too_long(max_cell_chars, line)
        if "\x00extra" in raw:
            too_many = FieldError(
                pointer="",
                code="too_many_cells",
                message=f"row has more cells than the {len(header)} columns in the header",
            )
            rows.append(CsvRow(number, line, None, (too_many,)))
            continue
        document = _row_document(raw, lists)
        try:
            rows.append(CsvRow(number, line, model.model_validate(document)))
        except ValidationError as error:
            errors = field_errors_from_validation(error.errors(), document)
            rows.append(CsvRow(number, line, None, tuple(errors)))
    if not rows:
        raise BatchInvalid(
            "upload has a header but no rows",
            errors=[FieldError(pointer="", code="empty", message="no data rows")],
        )
    return rows


def _longest_cell(raw: dict[str, Any]) -> int:
    longest = 0
    for cell in raw.values():
        # restkey collects surplus cells as a list
        cells = cell if isinstance(cell, list) else [cell]
        longest = max([longest, *(len(c) for c in cells if isinstance(c, str))])
    return longest


def _row_document(raw: dict[str, Any], lists: set[str]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for column, cell in raw.items():
        value = (cell or "").strip()
        if not value:
            continue
        if column in lists:
            document[column] = [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
        else:
            document[column] = value
    return document


@dataclass(frozen=True, slots=True)
class BatchItem:
    """A row after mapping: a notice to publish (with any warnings), or the errors that
    stop it."""

    row: int
    line: int
    notice: Notice | None
    errors: tuple[FieldError, ...] = ()
    warnings: tuple[FieldError, ...] = ()

    @staticmethod
    def mapped(row: int, line: int, result: Mapped) -> BatchItem:
        return BatchItem(row, line, result.notice, warnings=result.warnings)


def map_each(
    rows: Sequence[CsvRow[M]], mapper: Callable[[M, MappingContext], Mapped], ctx: MappingContext
) -> list[BatchItem]:
    """Map every valid row on its own. Pure."""
    items: list[BatchItem] = []
    for row in rows:
        if row.record is None:
            items.append(BatchItem(row.row, row.line, None, row.errors))
            continue
        try:
            items.append(BatchItem.mapped(row.row, row.line, mapper(row.record, ctx)))
        except MappingFailed as failed:
            items.append(BatchItem(row.row, row.line, None, failed.errors))
    return items
