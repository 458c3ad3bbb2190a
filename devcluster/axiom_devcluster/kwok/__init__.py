"""kwok configuration files shipped with the dev cluster (data only)."""
