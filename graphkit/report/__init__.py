"""The investigation report: one self-contained HTML file per detection run (``graphkit report``)."""

from graphkit.detection.activity import activity_table
from graphkit.report.writer import render_report, write_report

__all__ = ["activity_table", "render_report", "write_report"]
