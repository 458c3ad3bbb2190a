"""``kubectl axiom dashboard``: a read-only live view of the models, served on loopback.

- :mod:`.series`: what the view shows, recorded from the models as read (pure);
- :mod:`.app`: the aiohttp app: the page, its script and style (no external asset: the
  Content-Security-Policy allows only this origin), ``GET /api/state``, and the poller that
  reads the AxiomModels every second;
- ``static/``: the page, which polls ``/api/state`` and draws its charts in plain SVG.
"""
