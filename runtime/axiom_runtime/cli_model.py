"""``axiom model``: build, inspect, convert and run ``.axiom`` packages from the command line."""

from __future__ import annotations

import argparse
import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from axiom_runtime.cli import EXIT_OK, CommandFailed
from axiom_runtime.cli_io import input_of, prepare_rows, read_input, write_atomically
from axiom_runtime.convert import from_sequential_descriptor, from_sklearn
from axiom_runtime.package import ModelPackage, load_package, package_bytes, sha256_bytes

EPILOG = """\
examples:
  axiom model build ./my-model -o my-model-1.0.0.axiom    # dir with model.json + weights/*.npy
  axiom model convert net.json -o net-1.0.0.axiom         # axiom.pytorch.sequential.v1 descriptor
  axiom model inspect examples/digits/digits-1.0.0.axiom
  axiom model predict examples/digits/digits-1.0.0.axiom examples/digits/sample-digit-3.json
  axiom model push digits-1.0.0.axiom oci://registry.example/models/digits:1.0.0
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    commands = parser.add_subparsers(title="subcommands", metavar="<subcommand>")

    build = commands.add_parser(
        "build",
        help="pack a directory (model.json + weights/*.npy) into a .axiom package",
        description="Pack SOURCE_DIR/model.json and the .npy files it references (in "
        "SOURCE_DIR/weights/) into a byte-reproducible .axiom package, after checking that "
        "every layer's weights fit the declared input shape.",
    )
    build.add_argument("source_dir", metavar="SOURCE_DIR")
    build.add_argument("-o", "--output", required=True, metavar="OUT.axiom")
    build.set_defaults(handler=run_build)

    inspect = commands.add_parser(
        "inspect",
        help="show a package's identity, shapes and layers",
        description="Load a package (running every load-time check) and describe it.",
    )
    inspect.add_argument("package", metavar="PACKAGE")
    inspect.add_argument("--json", action="store_true", help="print machine-readable JSON")
    inspect.set_defaults(handler=run_inspect)

    convert = commands.add_parser(
        "convert",
        help="convert a layer descriptor or a scikit-learn MLP into a .axiom package",
        description="SOURCE is an axiom.pytorch.sequential.v1 JSON descriptor (.json), or a "
        "pickled scikit-learn MLPClassifier/MLPRegressor (.pkl/.joblib). Loading a pickle runs "
        "code from the file, so it needs --trust-pickle: only convert pickles you made yourself.",
    )
    convert.add_argument("source", metavar="SOURCE")
    convert.add_argument("-o", "--output", required=True, metavar="OUT.axiom")
    convert.add_argument("--name", help="model name (required for scikit-learn sources)")
    convert.add_argument("--version", help="model version (required for scikit-learn sources)")
    convert.add_argument(
        "--input-range", nargs=2, type=float, metavar=("LOW", "HIGH"), help="valid input values"
    )
    convert.add_argument(
        "--trust-pickle", action="store_true", help="allow loading a scikit-learn pickle"
    )
    convert.set_defaults(handler=run_convert)

    predict = commands.add_parser(
        "predict",
        help="run a package on inputs from a file or the command line",
        description='INPUT is a JSON file ({"input": [...]} or a bare list; one row or a '
        "batch), a .npy file, or - for JSON on stdin. For classifiers, prints the class and "
        "its probability for each row.",
    )
    predict.add_argument("package", metavar="PACKAGE")
    predict.add_argument("input", nargs="?", metavar="INPUT")
    predict.add_argument(
        "--data", metavar="JSON", help="the input as inline JSON instead of a file"
    )
    predict.add_argument("--json", action="store_true", help="print machine-readable JSON")
    predict.set_defaults(handler=run_predict)

    push = commands.add_parser(
        "push",
        help="upload a package to an OCI registry as an artifact",
        description="Upload PACKAGE as an OCI artifact (artifactType application/vnd.axiom."
        "model.v1, one layer: the package) and tag it; prints the oci:// URI pinned by the "
        "manifest digest, which is what spec.model.uri takes. With --as-image, a one-layer "
        "image (a tar holding model.axiom) that a kubelet can mount as an image volume "
        "(spec.model.oci.imageVolume). Credentials: --docker-config, else anonymous (a "
        "registry's 401 is answered with Basic auth or its token flow). Plain HTTP to "
        "loopback registries or with AXIOM_OCI_PLAIN_HTTP=true.",
    )
    push.add_argument("package", metavar="PACKAGE")
    push.add_argument("reference", metavar="oci://REGISTRY/REPOSITORY:TAG")
    push.add_argument(
        "--as-image",
        action="store_true",
        help="push a one-layer image holding model.axiom (for image volumes)",
    )
    push.add_argument(
        "--docker-config",
        metavar="FILE",
        help="a Docker config JSON (~/.docker/config.json, or a .dockerconfigjson) with an "
        "auths entry for the registry",
    )
    push.set_defaults(handler=run_push)


def run_push(options: argparse.Namespace) -> int:
    from axiom_runtime.sources import ModelSourceError
    from axiom_runtime.sources.oci import OciAccess, OciReference, push_package
    from axiom_runtime.sources.registry_auth import credentials_for

    package = load_package(options.package)  # refuse to publish what would not load
    try:
        access = None
        if options.docker_config:
            registry = OciReference.parse(options.reference).registry
            credentials = credentials_for(
                Path(options.docker_config).read_bytes(), registry, origin=options.docker_config
            )
            access = OciAccess(credentials, OciAccess.from_env(registry).plain_http)
        pinned = push_package(
            options.package,
            options.reference,
            sha256=package.sha256,
            as_image=options.as_image,
            access=access,
        )
    except (ModelSourceError, OSError) as error:
        raise CommandFailed(str(error)) from None
    print(pinned)
    return EXIT_OK


def run_build(options: argparse.Namespace) -> int:
    source = Path(options.source_dir)
    try:
        spec = json.loads((source / "model.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CommandFailed(f"{source / 'model.json'}: not valid JSON ({exc})") from None
    names = {
        name
        for layer in spec.get("layers", []) if isinstance(layer, dict)
        for name in layer.get("weights", {}).values()
    }  # fmt: skip
    weights = {}
    for name in sorted(names):
        path = source / "weights" / f"{name}.npy"
        try:
            weights[name] = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
        except ValueError as exc:
            raise CommandFailed(f"{path}: not a readable .npy array ({exc})") from None
    data = package_bytes(spec, weights)
    write_atomically(options.output, data)
    print(f"wrote {options.output} ({len(data)} bytes, sha256 {sha256_bytes(data)})")
    return EXIT_OK


def describe(package: ModelPackage) -> dict[str, Any]:
    spec = package.spec
    return {
        "name": spec.name,
        "version": spec.version,
        "task": spec.task,
        "sha256": package.sha256,
        "size_bytes": package.size_bytes,
        "input": {"shape": list(spec.input_shape), "dtype": spec.input_dtype, "range": spec.input_range},
        "output": {"shape": list(spec.output_shape), "dtype": spec.output_dtype, "labels": spec.labels},
        "parameters": package.model.parameter_count,
        "layers": [
            {"index": layer.index, "type": layer.type, "output_shape": list(layer.output_shape),
             "parameters": layer.parameter_count}
            for layer in package.model.layers
        ],
        "metadata": dict(spec.metadata),
    }  # fmt: skip


def run_inspect(options: argparse.Namespace) -> int:
    package = load_package(options.package)
    info = describe(package)
    if options.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    spec = package.spec
    value_range = (
        ""
        if spec.input_range is None
        else f" in [{spec.input_range[0]:g}, {spec.input_range[1]:g}]"
    )
    print(f"{spec.name} {spec.version} ({spec.task})")
    print(f"  sha256      {package.sha256}")
    print(f"  size        {package.size_bytes} bytes, {info['parameters']} parameters")
    print(f"  input       {spec.input_dtype} {list(spec.input_shape)}{value_range}")
    print(f"  output      {spec.output_dtype} {list(spec.output_shape)}")
    if spec.labels:
        print(f"  labels      {', '.join(spec.labels)}")
    print("  layers")
    for layer in package.model.layers:
        print(f"    {layer.index:>3}  {layer.type:<18} -> {list(layer.output_shape)}")
    return EXIT_OK


def _load_pickle(path: Path) -> Any:
    if path.suffix == ".joblib":
        import joblib  # type: ignore[import-untyped]

        return joblib.load(path)
    with path.open("rb") as handle:
        return pickle.load(handle)


def run_convert(options: argparse.Namespace) -> int:
    source = Path(options.source)
    input_range = None if options.input_range is None else tuple(options.input_range)
    if source.suffix in (".pkl", ".pickle", ".joblib"):
        if not options.trust_pickle:
            raise CommandFailed(
                f"{source}: loading a pickle runs code from it; pass --trust-pickle if you made it"
            )
        if not options.name or not options.version:
            raise CommandFailed("--name and --version are required for scikit-learn sources")
        spec, weights = from_sklearn(
            _load_pickle(source),
            name=options.name,
            version=options.version,
            input_range=input_range,
        )
    else:
        try:
            document = json.loads(source.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CommandFailed(f"{source}: not valid JSON ({exc})") from None
        if not isinstance(document, dict):
            raise CommandFailed(f"{source}: the descriptor must be a JSON object")
        if input_range is not None:
            document["input_range"] = list(input_range)
        spec, weights = from_sequential_descriptor(
            document, name=options.name, version=options.version
        )
    data = package_bytes(spec, weights)
    write_atomically(options.output, data)
    print(
        f"wrote {options.output}: {spec.name} {spec.version} ({len(data)} bytes, sha256 {sha256_bytes(data)})"
    )
    return EXIT_OK


def run_predict(options: argparse.Namespace) -> int:
    if (options.input is None) == (options.data is None):
        raise CommandFailed("give exactly one of INPUT or --data")
    package = load_package(options.package)
    if options.data is not None:
        try:
            raw = input_of(json.loads(options.data), "--data")
        except json.JSONDecodeError as exc:
            raise CommandFailed(f"--data: not JSON ({exc})") from None
        batch = prepare_rows(package, raw, "--data")
    else:
        batch = prepare_rows(package, read_input(options.input), options.input)
    outputs = package.predict(batch)
    result: dict[str, Any] = {
        "model": {
            "name": package.spec.name,
            "version": package.spec.version,
            "sha256": package.sha256,
        },
        "outputs": outputs.tolist(),
    }
    if package.spec.is_classifier:
        probabilities = package.class_probabilities(outputs)
        indices = probabilities.argmax(axis=1)
        result["classes"] = [package.label(int(i)) for i in indices]
        result["confidences"] = [
            round(float(probabilities[row, i]), 6) for row, i in enumerate(indices)
        ]
    if options.json:
        print(json.dumps(result))
        return EXIT_OK
    for row in range(len(outputs)):
        if "classes" in result:
            print(
                f"row {row}: class {result['classes'][row]} (probability {result['confidences'][row]:.4f})"
            )
        else:
            print(f"row {row}: {json.dumps(result['outputs'][row])}")
    return EXIT_OK
