"""Jupyter widgets: the combine widget and the chunk-map canvas (anywidget)."""
from .canvas import ChunkMapCanvas, canvas_payload
from .combine import CombineWidget

__all__ = ["ChunkMapCanvas", "CombineWidget", "canvas_payload"]
