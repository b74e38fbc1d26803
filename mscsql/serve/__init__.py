"""``mscsql serve``: the pipeline behind an HTTP API (FastAPI, Server-Sent Events), for people and BI tools.
Needs the ``serve`` extra (``pip install 'mscsql[serve]'``)."""
