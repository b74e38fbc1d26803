"""Schema linking: which tables and columns a question needs, and how they are shown to a model.

Importing this package loads no model; encoders and generators load when a linker first needs them.
"""

from mscsql.linking.base import KeepAllLinker, LinkRequest, SchemaLinker, linked, reduce_schema
from mscsql.linking.registry import LINKERS, build_linker
from mscsql.linking.render import RenderedSchema, RenderOptions, render_schema

__all__ = ["LINKERS", "KeepAllLinker", "LinkRequest", "RenderOptions", "RenderedSchema", "SchemaLinker",
           "build_linker", "linked", "reduce_schema", "render_schema"]
