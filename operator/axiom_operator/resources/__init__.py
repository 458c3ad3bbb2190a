"""Pure builders of the Kubernetes objects an AxiomModel owns: one module per kind.

Nothing here performs I/O or imports kopf or lightkube (a unit test enforces it): every
builder takes plain values and returns the manifest as a dict in the canonical form the
apiserver stores, so that "desired is a subset of live" means "nothing to write".
"""
