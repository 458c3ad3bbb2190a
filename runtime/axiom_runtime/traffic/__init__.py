"""Exact, sticky traffic split done by the stable runtime pods themselves (DESIGN component 4).

No router tier: each stable pod answers a request itself or forwards it to the canary
Service, chosen by a hash of the request id, so only the canary's share pays a second hop.
A forwarded call that fails is answered locally and counted against the canary, so users
do not see a bad canary while the operator's analysis does.

Layers: :mod:`.config` (the JSON file the operator writes) → :mod:`.split` (pure bucket
choice) → :mod:`.forward` (HTTP to the canary) → :mod:`.splitter` (the piece the server calls).
"""

from axiom_runtime.traffic.config import CanaryTarget, TrafficConfig, TrafficConfigError
from axiom_runtime.traffic.split import BUCKETS, bucket_of, goes_to_canary
from axiom_runtime.traffic.splitter import FORWARDED_HEADER, VERSION_HEADER, TrafficSplitter

__all__ = [
    "BUCKETS",
    "FORWARDED_HEADER",
    "VERSION_HEADER",
    "CanaryTarget",
    "TrafficConfig",
    "TrafficConfigError",
    "TrafficSplitter",
    "bucket_of",
    "goes_to_canary",
]
