"""``kubectl axiom <verb>``: argparse, the verbs, and the only module here that prints.

kubectl runs ``kubectl-axiom`` for ``kubectl axiom`` (any executable of that name on PATH is
a plugin), so this is also runnable alone. Exit codes are :class:`.outcome.Exit`: 0 success,
1 the rollout failed or was rolled back (``status``) or a check failed (``verify``), 2 usage,
3 not ended within ``--timeout``, 4 the model or the apiserver could not be read.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from lightkube import ConfigError

from axiom_operator import api
from axiom_operator.api import duration_seconds
from axiom_operator.kube import APIError, APIForbiddenError, Kube
from axiom_operator.kubectl import completion, requests, tree
from axiom_operator.kubectl.connect import Target, connect
from axiom_operator.kubectl.outcome import Exit, outcome
from axiom_operator.kubectl.send import NotFound, read_model, send
from axiom_operator.kubectl.verify import UnknownVersion, verify_version
from axiom_operator.resources.labels import MODEL_LABEL
from axiom_operator.settings import OperatorSettings, SettingsError
from axiom_operator.values import InvalidSpecError

PROG = "kubectl axiom"
WATCH_SECONDS = 1.0

Handler = Callable[[argparse.Namespace, Kube, str], Awaitable[int]]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(Exit.USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def say(text: str) -> None:
    print(text, flush=True)


def _duration(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return duration_seconds(text)


# -- get ------------------------------------------------------------------------------------


async def render_model(
    kube: Kube, name: str, namespace: str, verdicts: dict[int, tree.Verdict | None]
) -> str:
    """The tree; the certificate check runs once per spec generation (``verdicts`` keeps it:
    a watch must not re-read the package bytes every second)."""
    model = await read_model(kube, name, namespace)
    labels = {MODEL_LABEL: name}
    deployments = await kube.list("Deployment", namespace, labels)
    pods = await kube.list("Pod", namespace, labels)
    generation = int(model["metadata"].get("generation") or 0)
    if generation not in verdicts:
        try:
            verdicts[generation] = await verify_version(kube, OperatorSettings.from_env(), model)
        except (APIForbiddenError, InvalidSpecError):
            verdicts[generation] = None  # no right to read the Secrets, or a refused spec
    return tree.render(model, deployments, pods, verdicts[generation])


async def cmd_get(args: argparse.Namespace, kube: Kube, namespace: str) -> int:
    shown = ""
    verdicts: dict[int, tree.Verdict | None] = {}
    while True:
        text = await render_model(kube, args.name, namespace, verdicts)
        if text != shown:
            if shown:
                say(f"--- {datetime.now(UTC).strftime('%H:%M:%S')}")
            say(text)
            shown = text
        if not args.watch:
            return Exit.SUCCEEDED
        await asyncio.sleep(WATCH_SECONDS)


# -- status ---------------------------------------------------------------------------------


async def cmd_status(args: argparse.Namespace, kube: Kube, namespace: str) -> int:
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    last = ""
    while True:
        result = outcome(await read_model(kube, args.name, namespace))
        if result.line != last:
            say(result.line)
            last = result.line
        if result.exit is not Exit.RUNNING or not args.watch:
            return result.exit
        if deadline is not None and time.monotonic() >= deadline:
            say(f"timed out after {args.timeout:g}s: the rollout has not ended")
            return Exit.RUNNING
        await asyncio.sleep(WATCH_SECONDS)


# -- requests -------------------------------------------------------------------------------


async def _send_all(
    args: argparse.Namespace, kube: Kube, namespace: str, wanted: Sequence[requests.Request]
) -> int:
    for request in wanted:
        value = "-" if request.value is None else f"={request.value}"
        say(f"{args.name}: {request.annotation}{value}")
        after = await send(kube, args.name, namespace, request, wait=args.wait)
        if after is None and args.wait > 0:
            say(f"the operator has not acted on it within {args.wait:g}s (is it running?)")
    say(f"now: {outcome(await read_model(kube, args.name, namespace)).line}")
    return Exit.SUCCEEDED


def _request_verb(build: Callable[[dict[str, Any], argparse.Namespace], Any]) -> Handler:
    async def run(args: argparse.Namespace, kube: Kube, namespace: str) -> int:
        model = await read_model(kube, args.name, namespace)
        try:
            built = build(model, args)
        except requests.RequestRefused as refused:
            print(f"{PROG} {args.verb}: {args.name}: {refused}", file=sys.stderr)
            return Exit.FAILED
        return await _send_all(args, kube, namespace, built if isinstance(built, list) else [built])

    return run


cmd_promote = _request_verb(lambda m, a: requests.promote(m, full=a.full))
cmd_abort = _request_verb(lambda m, a: requests.abort(m))
cmd_pause = _request_verb(lambda m, a: requests.pause(m))
cmd_resume = _request_verb(lambda m, a: requests.resume(m))
cmd_rollback = _request_verb(lambda m, a: requests.rollback(m, a.to))


# -- history, verify ------------------------------------------------------------------------


def history_table(model: dict[str, Any]) -> str:
    status = model.get("status") or {}
    rows = [("VERSION", "OUTCOME", "AT", "REASON")]
    rows += [
        (e.get("version", ""), e.get("outcome", ""), e.get("at", ""), e.get("reason") or "")
        for e in status.get("history") or ()
    ]
    if status.get("canaryVersion"):
        rows.append((status["canaryVersion"], f"({status.get('phase')})", "now", "canary"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


async def cmd_history(args: argparse.Namespace, kube: Kube, namespace: str) -> int:
    say(history_table(await read_model(kube, args.name, namespace)))
    return Exit.SUCCEEDED


async def cmd_verify(args: argparse.Namespace, kube: Kube, namespace: str) -> int:
    settings = OperatorSettings.from_env()
    if args.trusted_keys_namespace is not None:
        settings = dataclasses.replace(settings, trusted_keys_namespace=args.trusted_keys_namespace)
    model = await read_model(kube, args.name, namespace)
    verdict = await verify_version(kube, settings, model, args.version)
    say(tree.certificate_line(verdict))
    return Exit.SUCCEEDED if verdict.outcome.valid else Exit.FAILED


# -- dashboard ------------------------------------------------------------------------------


async def cmd_dashboard(args: argparse.Namespace, kube: Kube, namespace: str) -> int:
    from aiohttp import web

    from axiom_operator.kubectl.dashboard.app import DashboardConfig, init_app

    if not ipaddress.ip_address(args.address).is_loopback:
        print(f"{PROG} dashboard: {args.address} is not a loopback address", file=sys.stderr)
        return Exit.USAGE

    async def models() -> list[dict[str, Any]]:
        return await kube.list(api.KIND, namespace, {})

    runner = web.AppRunner(init_app(models, DashboardConfig(interval=args.interval)))
    await runner.setup()
    site = web.TCPSite(runner, args.address, args.port)
    await site.start()
    port = runner.addresses[0][1]
    say(f"dashboard of namespace {namespace}: http://{args.address}:{port}/ (read-only)")
    try:
        await asyncio.Event().wait()  # until Ctrl-C or SIGTERM
    finally:
        await runner.cleanup()
    return Exit.SUCCEEDED


# -- parser ---------------------------------------------------------------------------------


def _model_verb(
    verbs: Any, name: str, handler: Handler, summary: str, *, wait: bool = False
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = verbs.add_parser(name, help=summary, description=summary)
    parser.add_argument("name", metavar="NAME", help="the AxiomModel")
    if wait:
        parser.add_argument(
            "--wait",
            type=_duration,
            default=30.0,
            metavar="DURATION",
            help="wait this long for the operator to act (default 30s; 0: do not wait)",
        )
    parser.set_defaults(handler=handler, verb=name)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Inspect and steer Axiom model rollouts through the annotations and spec "
        "the operator reads.",
    )
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    verbs = parser.add_subparsers(title="verbs", metavar="VERB")
    get = _model_verb(verbs, "get", cmd_get, "the model as a tree: versions, pods, traffic")
    get.add_argument("-w", "--watch", action="store_true", help="print again on every change")
    status = _model_verb(
        verbs, "status", cmd_status, "wait until the rollout ends; non-zero if it failed"
    )
    status.add_argument(
        "-w",
        "--watch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait for the end (default); --no-watch answers at once",
    )
    status.add_argument(
        "-t", "--timeout", type=_duration, metavar="DURATION", help="give up after (e.g. 5m)"
    )
    promote = _model_verb(verbs, "promote", cmd_promote, "end the canary's current step", wait=True)
    promote.add_argument(
        "--full", action="store_true", help="promote now, skipping every remaining step"
    )
    _model_verb(verbs, "abort", cmd_abort, "stop the canary: 0%%, blocked", wait=True)
    _model_verb(verbs, "pause", cmd_pause, "hold the canary at its weight", wait=True)
    _model_verb(verbs, "resume", cmd_resume, "continue a paused or failed canary", wait=True)
    rollback = _model_verb(
        verbs, "rollback", cmd_rollback, "serve the previous version again", wait=True
    )
    rollback.add_argument("--to", metavar="VERSION", help="a version from history")
    _model_verb(verbs, "history", cmd_history, "the versions and how each rollout ended")
    verify = _model_verb(verbs, "verify", cmd_verify, "check a version's certificate")
    verify.add_argument("--version", help="a recorded version (default: spec.version)")
    verify.add_argument(
        "--trusted-keys-namespace",
        help="pinned trust: read the keys there (AXIOM_OPERATOR_TRUSTED_KEYS_NAMESPACE)",
    )
    dashboard = verbs.add_parser(
        "dashboard", help="serve a live read-only view on localhost", description=None
    )
    dashboard.add_argument("--address", default="127.0.0.1", help="loopback address to bind")
    dashboard.add_argument("--port", type=int, default=8787, help="port (0: any free one)")
    dashboard.add_argument(
        "--interval", type=_duration, default=1.0, metavar="DURATION", help="poll period"
    )
    dashboard.set_defaults(handler=cmd_dashboard, verb="dashboard")
    shell = verbs.add_parser("completion", help="print a shell completion script")
    shell.add_argument("shell", choices=completion.SHELLS)
    shell.set_defaults(handler=None, verb="completion")
    return parser


async def _run(handler: Handler, args: argparse.Namespace) -> int:
    kube, namespace = connect(Target(args.kubeconfig, args.context, args.namespace))
    try:
        return await handler(args, kube, namespace)
    finally:
        await kube.close()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if completion.COMPLETE_VERB in arguments:  # the words typed so far, around the verb
        words = [word for word in arguments if word != completion.COMPLETE_VERB]
        say("\n".join(completion.candidates(build_parser(), words, model_names)))
        return Exit.SUCCEEDED
    parser = build_parser()
    args = parser.parse_args(arguments)
    if getattr(args, "verb", None) == "completion":
        say(completion.script(args.shell))
        return Exit.SUCCEEDED
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return Exit.USAGE
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return asyncio.run(_run(handler, args))
    except (NotFound, UnknownVersion, APIError, ConfigError, LookupError, SettingsError) as error:
        print(f"{PROG} {args.verb}: {' '.join(str(error).split())}", file=sys.stderr)
        return Exit.UNREACHABLE
    except TimeoutError as error:
        print(f"{PROG} {args.verb}: {error}", file=sys.stderr)
        return Exit.RUNNING
    except KeyboardInterrupt:  # the way a watch or the dashboard is meant to end
        return Exit.SUCCEEDED if args.verb in ("dashboard", "get") else 130


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: the dashboard closes its server


def model_names(typed: Sequence[str]) -> list[str]:
    """AxiomModel names for completion, in the namespace the words typed so far name."""
    flags = completion.connection_flags(typed)
    target = Target(flags.get("kubeconfig"), flags.get("context"), flags.get("namespace"))

    async def names() -> list[str]:
        kube, namespace = connect(target, 5.0)
        try:
            return [m["metadata"]["name"] for m in await kube.list(api.KIND, namespace, {})]
        finally:
            await kube.close()

    try:
        return asyncio.run(names())
    except Exception:  # completion must never print a traceback into the shell
        return []


def entry_point() -> NoReturn:
    sys.exit(main())
