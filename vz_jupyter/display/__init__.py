"""Displays: pure functions from core objects to HTML/SVG/text strings (no I/O).

- ``common``   shared helpers (escape, format_bytes, collapsible, table, wrap_repr, ids, CSS)
- ``chunkmap`` ``chunk_map_svg(var, highlight=...)`` and ``chunk_map_data(var)`` (JSON for the canvas)
- ``html``     ``dataset_html`` / ``dataset_list_html`` (``_repr_html_`` of VDataset / VDatasetList)
- ``text``     ``dataset_text`` / ``dataset_list_text`` (``__repr__`` and the ``<pre>`` fallback)
- ``plan``, ``report``  read plans and check reports (built on ``common`` and ``chunkmap``)
- ``verify``   ``vz.verify`` reports (sources changed, grown or missing)
"""
from ..core import formatting as _formatting
from ..core.check import Report as _Report
from ..core.model import VDataset as _VDataset, VDatasetList as _VDatasetList
from ..core.plan import ReadPlan as _ReadPlan
from ..core.verify import VerifyReport as _VerifyReport
from .html import dataset_html, dataset_list_html
from .plan import plan_html, plan_text
from .report import report_html, report_text
from .text import dataset_list_text, dataset_text
from .verify import verify_html, verify_text

# core objects find these renderers through core's formatter registry (DESIGN §1)
_formatting.register(_VDataset, text=dataset_text, html=dataset_html)
_formatting.register(_VDatasetList, text=dataset_list_text, html=dataset_list_html)
_formatting.register(_Report, text=report_text, html=report_html)
_formatting.register(_ReadPlan, text=plan_text, html=plan_html)
_formatting.register(_VerifyReport, text=verify_text, html=verify_html)
