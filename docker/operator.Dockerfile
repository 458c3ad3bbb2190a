# The Axiom operator image: `axiom operator` (Kopf) on a slim Python base.
#
# Build from the repository root (the context must hold pyproject.toml and the packages):
#   docker build -f docker/operator.Dockerfile -t axiom-operator:0.1.0 --build-arg VERSION=0.1.0 .
# or `make images`. The builder stage builds both wheels, the runtime distribution
# (runtime/pyproject.toml, which provides the `axiom` command) and the operator distribution
# (the root pyproject.toml, which adds `axiom operator`), and installs them into a virtualenv;
# the final stage copies only that virtualenv, so no compiler, pip or build frontend ships.
# No HEALTHCHECK: Kubernetes probes Kopf's /healthz (see the chart).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The builder stage may use a different base: hack/images/build.sh passes one that also trusts the
# host's CA (for pip behind an intercepting proxy), so that trust never reaches the final stage.
ARG BUILDER_IMAGE=python:3.11-slim-bookworm

FROM ${BUILDER_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m pip install "build>=1.2"
COPY pyproject.toml README.md ./
COPY runtime/ runtime/
COPY operator/ operator/
COPY devcluster/ devcluster/
RUN python -m build --wheel --outdir /wheels runtime \
 && python -m build --wheel --outdir /wheels . \
 && python -m venv /opt/axiom \
 && /opt/axiom/bin/pip install /wheels/*.whl \
 && /opt/axiom/bin/pip uninstall -y pip setuptools wheel

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="axiom-operator" \
      org.opencontainers.image.description="Kubernetes operator that serves verified ML models and rolls out new versions by measured canary" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed UID/GID so that the chart's runAsUser and runAsNonRoot match the image.
RUN groupadd --system --gid 10001 axiom \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin axiom
# No package installer in the final image (pip would let a compromised process install code).
RUN python -m pip uninstall -y pip setuptools wheel
COPY --from=builder /opt/axiom /opt/axiom
ENV PATH=/opt/axiom/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["axiom"]
CMD ["operator", "--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz"]
