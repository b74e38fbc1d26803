"""Value retrieval: which stored values a question mentions, and how they are written.

Importing this package loads neither torch nor sentence-transformers; the encoder loads on first use.
"""

from mscsql.retrieval.encoder import Encoder, get_encoder
from mscsql.retrieval.index import ValueIndex, default_index_dir

__all__ = ["Encoder", "ValueIndex", "default_index_dir", "get_encoder"]
