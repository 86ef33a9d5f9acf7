"""The one error bad input raises: it knows the file, column and row it is about."""

from __future__ import annotations

from pathlib import Path

from leadwise.errors import InvalidInput


class DataValidationError(InvalidInput, ValueError):
    """Bad input data. ``str(error)`` is one line naming file, column and row where they apply.

    ``row`` is the 1-based data row (the header is not counted), so row 1 is line 2 of a CSV file.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.file = Path(file).name if file is not None else None
        self.column = column
        self.row = row
        self.detail = message
        super().__init__(self._one_line())

    def about_field(self) -> str:
        """The problem named by its field only, for an answer about one posted lead (no file, no row)."""
        text = f"field '{self.column}': {self.detail}" if self.column else self.detail
        return " ".join(text.split())

    def _one_line(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.column:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row} (line {self.row + 1})")
        prefix = ", ".join(where)
        text = f"{prefix}: {self.detail}" if prefix else self.detail
        return " ".join(text.split())  # one line, whatever the message held
