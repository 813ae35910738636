"""``abyssexp report``: one self-contained HTML page about one or more experiments.

It reads the experiments' files only (record, params, provenance, history.csv, testing/): no
TensorFlow and no network. Figures are matplotlib SVGs and thumbnails are small JPEGs, both
embedded as ``data:`` URIs, so the file can be mailed, attached to a ticket or opened offline.
"""

from __future__ import annotations

from abyssexp.report.build import WrittenReport, write_report

__all__ = ["WrittenReport", "write_report"]
