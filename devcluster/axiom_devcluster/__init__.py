"""Local Kubernetes control plane and node agent for tests and the demo (dev tooling, never imported by the operator or runtime)."""
