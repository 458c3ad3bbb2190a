"""Axiom runtime: the model package, numpy engine, certificates, CLI and inference server."""
