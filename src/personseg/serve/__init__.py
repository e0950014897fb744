"""``personseg serve``: an HTTP API and a web page on a :class:`~personseg.inference.Segmenter`.

FastAPI + uvicorn, in the ``serve`` extra (``pip install 'personseg[serve]'``). Builds on
``inference/`` only. :func:`create_app` makes the app (tests give it a loaded model);
:func:`serve` runs it with one or several worker processes.
"""

from personseg.serve.app import create_app, serve
from personseg.serve.limits import ServeSettings

__all__ = ["ServeSettings", "create_app", "serve"]
