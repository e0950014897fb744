"""``personseg serve``: an HTTP API and a web page on a :class:`~personseg.inference.Segmenter`.

FastAPI + uvicorn, in the ``serve`` extra (``pip install 'personseg[serve]'``). Builds on
``inference/`` only. :func:`create_app` makes the app (tests give it a loaded model);
:func:`serve` runs it with one or several worker processes. Names are imported on first use, so
that :mod:`.admission` (the CLI's defaults) loads without the extra.
"""

from __future__ import annotations

from personseg._lazy import lazy_getattr

_EXPORTS = {"ServeSettings": "limits", "create_app": "app", "serve": "app"}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
