"""One exception root for everything graphkit raises on purpose.

Every error that comes from the user's input carries *where* it happened (file, column,
row or line) so the CLI can print one actionable line and exit with status 2.

>>> str(ParseError("unparsable timestamp 'yesterday'", file="events.csv", column="ts", line=7))
"events.csv: line 7: column 'ts': unparsable timestamp 'yesterday'"
"""

from __future__ import annotations


class GraphkitError(Exception):
    """Root of graphkit's exceptions. ``str()`` gives a one-line, located message."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.column = column
        self.row = row  # 1-based data row (header excluded)
        self.line = line  # 1-based physical line in a text file

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(str(self.file))
        if self.line is not None:
            parts.append(f"line {self.line}")
        elif self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column '{self.column}'")
        parts.append(self.message)
        return ": ".join(parts)


class InputError(GraphkitError):
    """The user's data cannot be read as the data contract says (docs/data-contract.md)."""


class SchemaError(InputError):
    """A required column is missing, or a column is duplicated."""


class ParseError(InputError):
    """A value cannot be parsed (timestamp, IP address, number, empty id)."""


class FormatError(InputError):
    """The file is empty, not valid UTF-8, ragged, or not in its extension's format."""


class ConfigError(GraphkitError):
    """Invalid settings, arguments or output location."""


class Neo4jServerError(GraphkitError):
    """The local Neo4j server cannot be installed, started, stopped or reached."""


class ExportError(GraphkitError):
    """Exporting to Neo4j failed (connection, credentials, selection)."""
