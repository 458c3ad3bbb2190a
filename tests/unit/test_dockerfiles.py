"""What can be checked about the container images without Docker.

These need no Docker (the images themselves are built by `make images` and run by the
realnode tier); they pin what a reviewer would check by eye: each Dockerfile parses, builds in a builder stage and ships only a virtualenv
on a slim base, runs as the fixed non-root UID the chart expects, has no HEALTHCHECK, and its
ENTRYPOINT/CMD name a console script and subcommands that really exist in the package. The
runtime image builds only the runtime distribution (runtime/pyproject.toml), so no operator
code or dependency can reach it; the operator image builds both.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "operator": REPO_ROOT / "docker" / "operator.Dockerfile",
    "runtime": REPO_ROOT / "docker" / "runtime.Dockerfile",
}
EXPECTED_CMD_SUBCOMMAND = {"operator": "operator", "runtime": "serve"}
# What each image's builder stage copies and the distributions (project dirs) it builds.
EXPECTED_SOURCES = {
    "operator": {"pyproject.toml", "README.md", "runtime/", "operator/", "devcluster/"},
    "runtime": {"runtime/"},
}
EXPECTED_BUILDS = {"operator": ["runtime", "."], "runtime": ["runtime"]}
RUNTIME_PROJECT = REPO_ROOT / "runtime" / "pyproject.toml"
OPERATOR_ONLY_DEPENDENCIES = {"kopf", "lightkube", "pydantic"}
IMAGE_UID = 10001
KNOWN_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


class DockerfileSyntaxError(ValueError):
    """A Dockerfile line is not an instruction."""


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def parse_dockerfile(text: str) -> Dockerfile:
    """Instructions grouped by stage; continuation lines joined, comments dropped."""
    logical: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    if buffer:
        raise DockerfileSyntaxError(f"dangling line continuation: {buffer!r}")
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        name, _, args = line.partition(" ")
        name = name.upper()
        if name not in KNOWN_INSTRUCTIONS:
            raise DockerfileSyntaxError(f"unknown instruction {name!r} in {line!r}")
        if name == "FROM":
            parts = args.split()
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=alias))
        elif not stages and name == "ARG":
            key, _, default = args.partition("=")
            global_args[key] = default
        elif not stages:
            raise DockerfileSyntaxError(f"{name} before the first FROM")
        else:
            stages[-1].instructions.append((name, args.strip()))
    return Dockerfile(global_args, stages)


def resolve(value: str, args: dict[str, str]) -> str:
    for key, default in args.items():
        value = value.replace("${" + key + "}", default).replace("$" + key, default)
    return value


@pytest.fixture(params=sorted(DOCKERFILES))
def image(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def dockerfile(image: str) -> Dockerfile:
    return parse_dockerfile(DOCKERFILES[image].read_text())


def test_parser_rejects_garbage() -> None:
    with pytest.raises(DockerfileSyntaxError):
        parse_dockerfile("FROM python:3.11-slim\nRUNN echo hi\n")


def test_is_multi_stage_on_a_slim_python_base(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) >= 2
    for stage in dockerfile.stages:
        base = resolve(stage.base, dockerfile.global_args)
        assert base.startswith("python:3.11") and "-slim" in base, base


def test_final_stage_copies_only_the_virtualenv_from_the_builder(dockerfile: Dockerfile) -> None:
    builder = dockerfile.stages[0].name
    copies = dockerfile.final.args_of("COPY")
    assert copies == [f"--from={builder} /opt/axiom /opt/axiom"]
    assert dockerfile.final.args_of("ADD") == []


def test_no_build_tools_in_the_final_stage(dockerfile: Dockerfile) -> None:
    for command in dockerfile.final.args_of("RUN"):
        assert "pip install" not in command
        assert "apt-get install" not in command and "apk add" not in command
        assert "build" not in command.replace("builder", "")
    # and the installer itself is removed from the final image
    assert any("pip uninstall -y pip" in c for c in dockerfile.final.args_of("RUN"))


def test_runs_as_the_fixed_non_root_uid(dockerfile: Dockerfile) -> None:
    (user,) = dockerfile.final.args_of("USER")
    uid, _, gid = user.partition(":")
    assert int(uid) == IMAGE_UID and int(gid) == IMAGE_UID
    assert any(f"--uid {IMAGE_UID}" in c for c in dockerfile.final.args_of("RUN"))


def test_chart_runs_the_operator_as_the_image_uid() -> None:
    values = yaml.safe_load((REPO_ROOT / "charts" / "axiom-operator" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == IMAGE_UID
    assert values["securityContext"]["runAsUser"] == IMAGE_UID


def test_has_no_healthcheck(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        assert stage.args_of("HEALTHCHECK") == []


def test_has_oci_labels(dockerfile: Dockerfile, image: str) -> None:
    labels = " ".join(dockerfile.final.args_of("LABEL"))
    assert f'org.opencontainers.image.title="axiom-{image}"' in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels


def test_entrypoint_is_the_packages_console_script(dockerfile: Dockerfile) -> None:
    (entrypoint,) = dockerfile.final.args_of("ENTRYPOINT")
    scripts = tomllib.loads(RUNTIME_PROJECT.read_text())["project"]["scripts"]
    assert json.loads(entrypoint) == ["axiom"]
    assert scripts["axiom"] == "axiom_runtime.cli:main"


def test_builder_copies_and_builds_only_its_distributions(
    dockerfile: Dockerfile, image: str
) -> None:
    builder = dockerfile.stages[0]
    copied = {source for args in builder.args_of("COPY") for source in args.split()[:-1]}
    assert copied == EXPECTED_SOURCES[image]
    built = [
        part.split("--outdir /wheels ")[1].split()[0]
        for command in builder.args_of("RUN")
        for part in command.split("&&")
        if "python -m build" in part
    ]
    assert built == EXPECTED_BUILDS[image]


def test_the_runtime_distribution_needs_nothing_of_the_operator() -> None:
    requirements = tomllib.loads(RUNTIME_PROJECT.read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[; ]", requirement)[0].lower() for requirement in requirements}
    assert names.isdisjoint(OPERATOR_ONLY_DEPENDENCIES | {"axiom-operator"})


def test_cmd_is_a_subcommand_the_cli_accepts(dockerfile: Dockerfile, image: str) -> None:
    (cmd,) = dockerfile.final.args_of("CMD")
    argv = json.loads(cmd)
    assert argv[0] == EXPECTED_CMD_SUBCOMMAND[image]
    axiom = shutil.which("axiom", path=str(Path(sys.executable).parent))
    assert axiom is not None, "the axiom console script is not installed in this venv"
    result = subprocess.run([axiom, argv[0], "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_copied_sources_exist_and_are_not_docker_ignored(dockerfile: Dockerfile) -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for args in dockerfile.stages[0].args_of("COPY"):
        *sources, _dest = args.split()
        for source in sources:
            path = source.rstrip("/")
            assert (REPO_ROOT / path).exists(), path
            included = False
            for pattern in patterns:  # last match wins, as in Docker
                negated = pattern.startswith("!")
                bare = pattern.lstrip("!").rstrip("/")
                if fnmatch.fnmatch(path, bare) or bare == "**":
                    included = negated
            assert included, f"{path} is excluded by .dockerignore"
