"""Handlers: unpack what kopf hands over, call the pure builders and the plan, write through
``kube``. main.py registers them; nothing here registers itself."""
