"""Axiom operator: reconciles AxiomModel objects into verified, measured model deployments."""
