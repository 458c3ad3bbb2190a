# The Axiom runtime image: `axiom serve`, the numpy inference server the operator deploys.
#
# Build from the repository root:
#   docker build -f docker/runtime.Dockerfile -t axiom-runtime:0.1.0 --build-arg VERSION=0.1.0 .
# or `make images`. Only the runtime distribution (runtime/pyproject.toml: numpy, aiohttp,
# cryptography, orjson, pyyaml) is built and installed: no Kopf, lightkube, pydantic or operator
# code ships in it. The final stage holds only the virtualenv. All settings come from AXIOM_*
# environment variables set by the operator (see docs/quickstart-real-cluster.md). No
# HEALTHCHECK: the operator's Deployment probes /health and /ready.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The builder stage may use a different base: hack/images/build.sh passes one that also trusts the
# host's CA (for pip behind an intercepting proxy), so that trust never reaches the final stage.
ARG BUILDER_IMAGE=python:3.11-slim-bookworm

FROM ${BUILDER_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m pip install "build>=1.2"
COPY runtime/ runtime/
RUN python -m build --wheel --outdir /wheels runtime \
 && python -m venv /opt/axiom \
 && /opt/axiom/bin/pip install /wheels/*.whl \
 && /opt/axiom/bin/pip uninstall -y pip setuptools wheel

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="axiom-runtime" \
      org.opencontainers.image.description="Inference server for verified .axiom model packages (numpy, Open Inference Protocol v2)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 axiom \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin axiom
# No package installer in the final image (pip would let a compromised process install code).
RUN python -m pip uninstall -y pip setuptools wheel
COPY --from=builder /opt/axiom /opt/axiom
ENV PATH=/opt/axiom/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AXIOM_PORT=8080
USER 10001:10001
# 8081: gRPC, served when AXIOM_GRPC_PORT is set (the operator's Deployments set 8081).
EXPOSE 8080 8081
ENTRYPOINT ["axiom"]
CMD ["serve"]
