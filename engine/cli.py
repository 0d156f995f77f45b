"""The ``kubetriage`` command line (also ``kubectl triage`` as a kubectl plugin).

Exit codes: 0 no finding at or above --fail-on, 1 findings (or failing rule
tests / lint problems), 2 usage or internal error, 3 nothing or too little was
collected to judge (see ``bundle.too_little``): an empty triage never looks healthy.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import yaml
from click.core import ParameterSource
from rich.console import Console
from rich.text import Text

from kubetriage import __version__
from kubetriage.bundle import Bundle, ProbeFiles, too_little
from kubetriage.catalog import CATALOG
from kubetriage.collectors.snapshot import SnapshotBundle
from kubetriage.collectors.writer import prepare_directory, write_probes, write_snapshot
from kubetriage.config import Config, load_config, search_path
from kubetriage.errors import KubetriageError, ValidationError
from kubetriage.escape import terminal
from kubetriage.explain import explain
from kubetriage.facts import FactBase
from kubetriage.fleet import render_fleet, triage_fleet
from kubetriage.incident import build_incident, incident_html, incident_markdown
from kubetriage.incidents import History
from kubetriage.incidents.history import default_path
from kubetriage.incidents.listing import render_history
from kubetriage.knowledge import Knowledge
from kubetriage.normalize import normalize
from kubetriage.normalize.currency import EvidenceWindow
from kubetriage.normalize.signatures import SignatureCatalog
from kubetriage.probe.plan import ExecSettings, ProbeSettings
from kubetriage.reports import FORMATS, render_report
from kubetriage.ruledocs import write_docs
from kubetriage.rulefile import SEVERITIES
from kubetriage.ruletests import run_rule_tests
from kubetriage.scaffold import scaffold
from kubetriage.schema import SCHEMAS, schema
from kubetriage.triage import TriageReport, evaluable, resolve_now, triage

if TYPE_CHECKING:  # kubernetes is slow to import: only where a command needs it
    from kubernetes import client as k8s

    from kubetriage.collectors.kube import ApiSettings

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_TOO_LITTLE = 0, 1, 2, 3
#: Exit codes from best to worst: a fleet exits with its worst cluster's.
_WORSE = (EXIT_OK, EXIT_FINDINGS, EXIT_TOO_LITTLE, EXIT_ERROR)

_RULES_OPTION = click.option(
    "--rules", "rule_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
    help="Extra rule directory (repeatable). A rule with a built-in's id replaces it; "
         "DIR/signatures/*.yaml and DIR/runbooks/*.md are loaded too.")


class _Cli(click.Group):
    """Maps errors to exit code 2: a KubetriageError as one clear line, anything else as a bug."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # `kubetriage rules list | head -1`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            sys.exit(EXIT_FINDINGS)
        except KubetriageError as exc:
            _echo(f"kubetriage: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except Exception:
            traceback.print_exc()
            _echo("kubetriage: internal error (a bug: please report it with the traceback above)",
                       err=True)
            sys.exit(EXIT_ERROR)


def _echo(text: str, err: bool = False, nl: bool = True) -> None:
    """Print text that may come from the cluster or a rule pack: control characters made visible."""
    click.echo("\n".join(terminal(line) for line in text.split("\n")), err=err, nl=nl)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="kubetriage")
def main() -> None:
    """Triage Kubernetes networking incidents: root causes, evidence and runbooks.

    \b
    Quick start:
      kubetriage demo                                # triage the bundled example outage
      kubetriage triage --snapshot "$(kubetriage demo --path)" -o json
      kubetriage triage                              # the current kubeconfig context, live
      kubetriage triage --snapshot DIR -o json --fail-on critical
      kubetriage rules list
    """


_CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Config file (default: ./kubetriage.yaml, then ~/.config/kubetriage/kubetriage.yaml).")


@dataclass
class _Setup:
    """The config file merged with command-line options, and the knowledge base it selects."""

    config: Config
    knowledge: Knowledge
    params: dict[str, dict[str, Any]]


def _setup(config_path: Path | None, rule_dirs: Sequence[Path] = (), disable: Sequence[str] = ()) -> _Setup:
    config = load_config(config_path)
    knowledge = Knowledge.load([*config.rule_dirs, *rule_dirs], (), config.runbook_dirs, config.severity)
    declared = {r.id: r.params for r in knowledge.rules}
    problems = config.check_against(declared, {s.id for s in knowledge.signatures.signatures})
    if problems:
        raise ValidationError(problems)
    return _Setup(config, knowledge.without([*config.disable, *disable]), config.rule_params(declared))


def _live_options(func: Any, fleet: bool = False) -> Any:
    """Options that select and reach a live cluster, as kubectl names them (``fleet``: several)."""
    contexts = [
        click.option("--context", "contexts", multiple=True, metavar="NAME",
                     help="Kubeconfig context (default: the current one); repeat it to triage a fleet concurrently."),
        click.option("--all-contexts", is_flag=True, help="Triage every context of the kubeconfig (a fleet)."),
    ] if fleet else [click.option("--context", help="Kubeconfig context (default: the current one).")]
    options = [
        click.option("--kubeconfig", type=click.Path(dir_okay=False),
                     help="Kubeconfig file (default: $KUBECONFIG, which may list several, "
                          "or ~/.kube/config)."),
        *contexts,
        click.option("-n", "--namespace", help="Only this namespace (cluster-scoped kinds are always read); "
                                               "with --snapshot, only its objects and pod logs are read."),
        click.option("-A", "--all-namespaces", is_flag=True, help="All namespaces (the default)."),
        click.option("--in-cluster", is_flag=True,
                     help="Use the pod's ServiceAccount (when run in a cluster)."),
        click.option("--chunk-size", type=click.IntRange(1, 5000), default=500, show_default=True,
                     help="Objects per list page."),
        click.option("--request-timeout", type=click.FloatRange(0.1), default=30.0, show_default=True,
                     metavar="SECONDS", help="Timeout of each API call."),
        click.option("--since", default="30m", show_default=True,
                     help="How far back to read pod logs (and node logs with --ssh)."),
        click.option("--pod-log-lines", type=click.IntRange(1), default=1000, show_default=True,
                     help="At most this many lines of each networking pod's log."),
        click.option("-v", "--verbose", is_flag=True, help="Log each API call and its duration to stderr."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_fleet_options = partial(_live_options, fleet=True)


def _probe_options(func: Any) -> Any:
    """Opt-in active probes (see `kubetriage probe --help`)."""
    options = [
        click.option("--probe", is_flag=True,
                     help="Also run the mesh probe: a short-lived DaemonSet in namespace kubetriage-probe "
                          "(needs deploy/rbac-probe.yaml); its results join the triage as probes/mesh.json. "
                          "With --ssh, also the node-side probes: ip -j addr/route/-d link, the overlay's "
                          "iptables rules (needs root: --ssh-sudo) and a ping from each node to a pod on "
                          "other nodes."),
        click.option("--probe-image", default=ProbeSettings.image, show_default=True,
                     help="Image of the probe pods (any image with python3 and kubetriage installed)."),
        click.option("--probe-timeout", type=click.FloatRange(1), default=ProbeSettings.timeout,
                     show_default=True, metavar="SECONDS", help="Bound on the whole probe run."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _ssh_options(func: Any) -> Any:
    """Options for reading node evidence over SSH (kubelet journal, CNI config, IPAM state)."""
    options = [
        click.option("--ssh", is_flag=True,
                     help="SSH: read node logs, CNI config and IPAM state over SSH (addresses: node InternalIP)."),
        click.option("--ssh-inventory", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="SSH: YAML mapping node name -> host, port, user, jump, distro (implies --ssh)."),
        click.option("--ssh-user", help="SSH: login user (default: ~/.ssh/config, then the local user)."),
        click.option("--ssh-key", type=click.Path(exists=True, dir_okay=False),
                     help="SSH: private key file (default: the agent and ~/.ssh/config IdentityFile)."),
        click.option("--ssh-jump", metavar="[USER@]HOST[:PORT]", help="SSH: jump host (like ProxyJump)."),
        click.option("--ssh-host-key-policy", type=click.Choice(["strict", "accept-new"]), default="strict",
                     show_default=True, help="SSH: refuse unknown host keys, or trust and record them on first "
                                             "use. A changed key is always refused."),
        click.option("--ssh-known-hosts", type=click.Path(dir_okay=False, path_type=Path),
                     default=Path("~/.ssh/known_hosts").expanduser(), show_default="~/.ssh/known_hosts"),
        click.option("--ssh-config", type=click.Path(dir_okay=False, path_type=Path),
                     default=Path("~/.ssh/config").expanduser(), show_default="~/.ssh/config"),
        click.option("--ssh-password-env", metavar="VAR",
                     help="SSH: read the password (or key passphrase) from this environment variable."),
        click.option("--ssh-timeout", type=click.FloatRange(0.1), default=10.0, show_default=True,
                     metavar="SECONDS", help="SSH: connect timeout."),
        click.option("--ssh-command-timeout", type=click.FloatRange(0.1), default=60.0, show_default=True,
                     metavar="SECONDS", help="SSH: timeout of each remote command."),
        click.option("--ssh-concurrency", type=click.IntRange(1, 256), default=16, show_default=True),
        click.option("--ssh-sudo", is_flag=True, help="SSH: run the read-only commands with `sudo -n`."),
        click.option("--ssh-max-lines", type=click.IntRange(1), default=10_000, show_default=True,
                     help="SSH: at most this many lines per log."),
        click.option("--distro", type=click.Choice(["auto", "kubeadm", "rke2", "k3s"]), default="auto",
                     show_default=True, help="SSH: where node files live (auto-detected on each node)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


_SSH_CONFIG_KEYS = {"user": "ssh_user", "key": "ssh_key", "jump": "ssh_jump", "host_key_policy": "ssh_host_key_policy",
                    "known_hosts": "ssh_known_hosts", "inventory": "ssh_inventory", "concurrency": "ssh_concurrency",
                    "sudo": "ssh_sudo", "distro": "distro", "password_env": "ssh_password_env"}


def _apply_ssh_defaults(opts: dict[str, Any], config: Config) -> None:
    """Config-file SSH settings fill in options left at their defaults on the command line."""
    ctx = click.get_current_context()
    given = {k for k in opts if ctx.get_parameter_source(k) not in (None, ParameterSource.DEFAULT)}
    for key, option in _SSH_CONFIG_KEYS.items():
        if key in config.ssh and option not in given:
            value = config.ssh[key]
            opts[option] = Path(value) if option in ("ssh_known_hosts", "ssh_inventory") else value
    if "log_window" in config.thresholds and "since" not in given:
        opts["since"] = config.thresholds["log_window"]


def _triage(setup: _Setup, snapshot: Path | None, now: str | None, engine: str, live: dict[str, Any]
            ) -> TriageReport:
    """One triage of a snapshot or the live cluster, with the config's params and exclusions."""
    if snapshot is None:  # SSH defaults from the config apply to live collection only
        _apply_ssh_defaults(live, setup.config)
    return _triage_bundle(setup, snapshot, now, engine, live)


def _triage_bundle(setup: _Setup, snapshot: Path | None, now: str | None, engine: str, live: dict[str, Any],
                   status: bool = True) -> TriageReport:
    with _open_bundle(snapshot, live, status) as bundle:
        return triage(bundle, setup.knowledge, resolve_now(bundle, now), engine,  # type: ignore[arg-type]
                      setup.params, setup.config.exclude, setup.config.window)


def _fact_base(snapshot: Path | None, now: str | None, live: dict[str, Any], signatures: SignatureCatalog,
               window: EvidenceWindow | None = None) -> FactBase:
    """The facts of a snapshot or the live cluster (API only: these commands take no SSH options)."""
    live.update(ssh=False, ssh_inventory=None)
    with _open_bundle(snapshot, live) as bundle:
        return normalize(bundle, resolve_now(bundle, now), signatures, window)


def _ssh_bundle(base: Bundle, opts: dict[str, Any], probe: bool = False) -> Bundle:
    from kubetriage.collectors.ssh import SshNodeBundle, SshSettings, load_inventory, parse_duration

    settings = SshSettings(
        user=opts["ssh_user"], key_file=opts["ssh_key"], jump=opts["ssh_jump"],
        host_key_policy=opts["ssh_host_key_policy"], known_hosts=opts["ssh_known_hosts"],
        ssh_config=opts["ssh_config"], password_env=opts["ssh_password_env"],
        connect_timeout=opts["ssh_timeout"], command_timeout=opts["ssh_command_timeout"],
        concurrency=opts["ssh_concurrency"], since_seconds=parse_duration(opts["since"]),
        max_lines=opts["ssh_max_lines"], sudo=opts["ssh_sudo"], distro=opts["distro"], probe=probe)
    inventory = load_inventory(opts["ssh_inventory"]) if opts["ssh_inventory"] else None
    return SshNodeBundle(base, settings, inventory)


@contextmanager
def _open_bundle(snapshot: Path | None, live: dict[str, Any], status: bool = True) -> Iterator[Bundle]:
    """The snapshot directory, or a live cluster when no snapshot is given (``status``: show a
    spinner on a terminal; one at a time, so a fleet's threads show none)."""
    ssh = live.pop("ssh") or live["ssh_inventory"] is not None
    probe = live.pop("probe", False)
    settings_probe = ProbeSettings(image=live.pop("probe_image", ProbeSettings.image),
                                   timeout=live.pop("probe_timeout", ProbeSettings.timeout))
    if snapshot is not None:
        if ssh or probe:
            raise click.UsageError("--ssh and --probe read a live cluster; they cannot be combined with --snapshot")
        yield SnapshotBundle(snapshot, None if live["all_namespaces"] else live["namespace"])
        return
    from kubetriage.collectors.kube import LiveBundle  # kubernetes is slow to import

    api, cluster, settings = _connect(live)
    live_bundle = LiveBundle(api, cluster, settings)
    if probe:
        live_bundle.probe_results = ProbeFiles(mesh=_mesh_probe(api, settings_probe))
    bundle: Bundle = _ssh_bundle(live_bundle, live, probe) if ssh else live_bundle
    spinner = (Console(stderr=True).status(Text(terminal(f"Collecting from {cluster}…")))
               if status and sys.stderr.isatty() else None)
    try:
        if spinner:
            spinner.start()
        yield bundle
    finally:
        if spinner:
            spinner.stop()
        live_bundle.close()
        api.close()


def _connect(live: dict[str, Any]) -> tuple[k8s.ApiClient, str, ApiSettings]:
    """The API client, cluster name and ApiSettings the live options select (logging set up)."""
    from kubetriage.collectors.kube import ApiSettings, api_client
    from kubetriage.collectors.ssh import parse_duration

    if live["verbose"]:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s",
                            stream=sys.stderr)
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    if not live["in_cluster"]:
        _check_kubeconfig(live["kubeconfig"])
    api, cluster = api_client(live["kubeconfig"], live["context"], live["in_cluster"])
    settings = ApiSettings(namespace=None if live["all_namespaces"] else live["namespace"],
                           chunk_size=live["chunk_size"], timeout=live["request_timeout"],
                           log_since_seconds=parse_duration(live["since"]), log_lines=live["pod_log_lines"])
    return api, cluster, settings


def _duration(text: str, option: str) -> int:
    """A duration option (30m, 2h, 1h30m) in seconds; a bad one is a usage error naming the option."""
    from kubetriage.collectors.ssh import parse_duration

    try:
        return parse_duration(text)
    except KubetriageError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[-1], param_hint=option) from None


def _check_kubeconfig(explicit: str | None) -> None:
    """Say which kubeconfig is missing, and how to triage without a cluster, before the client
    reports both cases as 'Invalid kube-config file'."""
    hint = "to triage without a cluster, use --snapshot DIR"
    if explicit:
        if not Path(explicit).expanduser().is_file():
            raise KubetriageError(f"--kubeconfig {explicit}: no such file ({hint})")
        return
    env = os.environ.get("KUBECONFIG", "")
    candidates = [p for p in env.split(os.pathsep) if p] or [str(Path("~/.kube/config").expanduser())]
    if not any(Path(p).expanduser().is_file() for p in candidates):
        where = f"KUBECONFIG={env}" if env else candidates[0]
        raise KubetriageError(f"no kubeconfig found ({where} does not exist); pass --kubeconfig FILE or "
                              f"--in-cluster, or {hint}")


def kubectl_plugin() -> None:
    """``kubectl triage [OPTIONS]``: the triage command, as the README promises; ``kubectl triage
    SUBCOMMAND ...`` (or --help, --version) reaches the others."""
    args = sys.argv[1:]
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        args = ["triage", *args]
    main(args=args, prog_name="kubectl triage")


@main.command("triage")
@click.option("--snapshot", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Snapshot directory (kubetriage format or `kubectl cluster-info dump` output). "
                   "Without it, the current kubeconfig context is triaged live.")
@_fleet_options
@_ssh_options
@_probe_options
@click.option("-o", "--output", type=click.Choice(FORMATS), default="table", show_default=True)
@_RULES_OPTION
@click.option("--disable", multiple=True, metavar="ID", help="Skip a rule (repeatable).")
@click.option("--fail-on", type=click.Choice([*SEVERITIES, "never"]), default="high",
              show_default=True, help="Exit 1 when a finding is at least this severe.")
@click.option("--now", metavar="RFC3339",
              help="Evaluate time-based rules at this instant (default: the snapshot's collected_at).")
@click.option("--engine", type=click.Choice(["durable", "oracle"]), default="durable",
              hidden=True, help="Rule evaluator (oracle: the plain-Python test oracle).")
@click.option("--runbook", "runbook_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the incident runbook (Markdown) to this file.")
@_CONFIG_OPTION
def triage_cmd(snapshot: Path | None, output: str, rule_dirs: tuple[Path, ...],
               disable: tuple[str, ...], fail_on: str, now: str | None, engine: str,
               runbook_file: Path | None, config_path: Path | None, **live: Any) -> None:
    """Find root causes in a cluster or a snapshot and print them, root causes first.

    \b
    Examples:
      kubetriage triage                              # current kubeconfig context, live
      kubetriage triage --context prod -n shop -o json
      kubetriage triage --context prod --context staging   # a fleet: one summary
      kubetriage triage --all-contexts -o json             # keyed by cluster
      kubetriage triage --ssh --ssh-user ops --ssh-jump bastion.example
      kubetriage triage --snapshot ./snap -o markdown > incident.md
      kubetriage triage --snapshot ./snap --rules ./team-rules --disable NET-LB-001
      kubetriage triage --snapshot ./snap --runbook incident.md -o junit > triage.xml
    """
    if runbook_file and not runbook_file.parent.is_dir():
        raise click.BadParameter(f"directory {runbook_file.parent} does not exist", param_hint="--runbook")
    setup = _setup(config_path, rule_dirs, disable)
    contexts = list(dict.fromkeys(live.pop("contexts")))
    if live.pop("all_contexts"):
        if not live["in_cluster"]:
            _check_kubeconfig(live["kubeconfig"])
        from kubetriage.collectors.kube import context_names  # kubernetes is slow to import

        contexts = list(dict.fromkeys([*contexts, *context_names(live["kubeconfig"])]))
    if len(contexts) > 1:
        if snapshot or runbook_file or live["in_cluster"] or output not in ("table", "json"):
            raise click.UsageError("a fleet (several contexts) is triaged live, summarised with -o table or json; "
                                   "--snapshot, --in-cluster and --runbook take one cluster")
        _fleet(setup, contexts, output, fail_on, now, engine, live)
    live["context"] = contexts[0] if contexts else None
    report = _triage(setup, snapshot, now, engine, live)
    render_report(report, output, Console(width=None if sys.stdout.isatty() else 120))
    if runbook_file:
        try:
            runbook_file.write_text(incident_markdown(build_incident(report, setup.knowledge)), encoding="utf-8")
        except OSError as exc:
            raise KubetriageError(f"cannot write the runbook to {runbook_file}: {exc.strerror}") from None
    _exit_if_too_little(report.too_little)
    sys.exit(_exit_code(report, fail_on))


def _exit_code(report: TriageReport, fail_on: str) -> int:
    if report.too_little:
        return EXIT_TOO_LITTLE
    threshold = -1 if fail_on == "never" else SEVERITIES.index(fail_on)
    return EXIT_FINDINGS if any(SEVERITIES.index(f.severity) <= threshold for f in report.findings) else EXIT_OK


def _fleet(setup: _Setup, contexts: list[str], output: str, fail_on: str, now: str | None, engine: str,
           live: dict[str, Any]) -> NoReturn:
    """Triage each context concurrently; one summary; exit with the worst cluster's code."""
    _check_kubeconfig(live["kubeconfig"])
    _apply_ssh_defaults(live, setup.config)  # here: it reads click's context, which worker threads lack
    results = triage_fleet(
        contexts, lambda name: _triage_bundle(setup, None, now, engine, {**live, "context": name}, status=False),
        lambda report: _exit_code(report, fail_on), EXIT_ERROR)
    render_fleet(results, output, Console(width=None if sys.stdout.isatty() else 120))
    for result in results:
        if result.exit_code in (EXIT_ERROR, EXIT_TOO_LITTLE):
            reason = result.error or f"NOTHING TO JUDGE: {result.report.too_little if result.report else ''}"
            _echo(f"kubetriage: {result.name}: {reason}", err=True)
    sys.exit(max((r.exit_code for r in results), key=_WORSE.index))


@main.command("demo")
@click.option("-o", "--output", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--path", "show_path", is_flag=True, help="Print where the example snapshot is, and stop.")
@click.pass_context
def demo_cmd(ctx: click.Context, output: str, show_path: bool) -> None:
    """Triage the example snapshot shipped with kubetriage: an RKE2 cluster whose CNI agent
    crash-loops on one node, and an Ingress serving an expired certificate.

    \b
    Examples:
      kubetriage demo
      kubetriage demo -o json
      kubetriage facts --snapshot "$(kubetriage demo --path)" --kind pod
    """
    snapshot = Path(str(files("kubetriage.examples") / "rke2-outage"))
    if show_path:
        _echo(str(snapshot))
        return
    ctx.invoke(triage_cmd, snapshot=snapshot, output=output, fail_on="never")


def _exit_if_too_little(reason: str) -> None:
    """Exit 3, loudly, when nothing could be judged: that must never look like a healthy cluster."""
    if reason:
        click.echo(click.style(f"kubetriage: NOTHING TO JUDGE: {reason}. No finding does not mean healthy; "
                               "see the coverage errors above.", fg="red", bold=True), err=True)
        sys.exit(EXIT_TOO_LITTLE)


@main.command("collect")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the snapshot into (must be empty unless --force).")
@click.option("--force", is_flag=True, help="Write into a non-empty directory.")
@_live_options
@_ssh_options
@_probe_options
@_CONFIG_OPTION
def collect_cmd(out: Path, force: bool, config_path: Path | None, **live: Any) -> None:
    """Collect a snapshot directory from a live cluster for later or offline triage.

    \b
    Examples:
      kubetriage collect -o ./snap && kubetriage triage --snapshot ./snap
      kubetriage collect -o ./snap --context prod -n shop
      kubetriage collect -o ./snap --ssh-inventory nodes.yaml
    """
    prepare_directory(out, force)
    _apply_ssh_defaults(live, load_config(config_path))
    with _open_bundle(None, live) as bundle:
        written = write_snapshot(bundle, out)
    for error in bundle.errors:
        _echo(f"kubetriage: could not collect {error.target}: {error.message}", err=True)
    _echo(f"snapshot written to {out}", err=True)
    _exit_if_too_little(too_little(written))


@main.command("watch")
@_live_options
@_ssh_options
@click.option("--listen", default="127.0.0.1:9464", show_default=True, metavar="HOST:PORT",
              help="Serve /metrics, /healthz, /readyz and the live page / here (:9464 = every address).")
@click.option("--notify", "notify_specs", multiple=True, metavar="KIND:URL", envvar="KUBETRIAGE_NOTIFY",
              help="Send root causes as they appear, change and resolve (repeatable): webhook:URL, "
                   "slack:URL (incoming webhook), alertmanager:URL (its base URL). Default: "
                   "$KUBETRIAGE_NOTIFY, space-separated (keeps webhook secrets out of the command line).")
@click.option("--history", "history_where", metavar="PATH",
              help="Incident history (SQLite file; default: $XDG_STATE_HOME/kubetriage/history.db), "
                   "read by `kubetriage history` and shown on the page.")
@click.option("--renotify", default="4h", show_default=True, metavar="DURATION|never",
              help="Notify again about a root cause still open this often.")
@click.option("--logs-every", default="5m", show_default=True, metavar="DURATION",
              help="Re-read networking pods' logs, TLS Secrets and (with --ssh) node files this often.")
@click.option("--debounce", type=click.FloatRange(0.1), default=2.0, show_default=True, metavar="SECONDS",
              help="Re-triage this long after the last change ...")
@click.option("--max-delay", type=click.FloatRange(0.1), default=10.0, show_default=True, metavar="SECONDS",
              help="... but no later than this after the first one, however busy the cluster.")
@_RULES_OPTION
@click.option("--disable", multiple=True, metavar="ID", help="Skip a rule (repeatable).")
@_CONFIG_OPTION
def watch_cmd(listen: str, notify_specs: tuple[str, ...], history_where: str | None, renotify: str, logs_every: str,
              debounce: float, max_delay: float, rule_dirs: tuple[Path, ...], disable: tuple[str, ...],
              config_path: Path | None, **live: Any) -> None:
    """Keep triaging a live cluster: watch its objects, re-triage after changes, publish the outcome.

    \b
    Lists and watches every resource the rules read (resuming after dropped connections,
    listing again after 410 Gone), re-triages a few seconds after changes, and serves on
    --listen: /metrics (Prometheus; gauge kubetriage_findings{rule_id,severity,root_cause}),
    /healthz, /readyz (after the first triage) and / (the incident page, live).
    Runs until SIGTERM or Ctrl-C. In a cluster, see deploy/ (kustomize base).

    \b
    Examples:
      kubetriage watch                                   # current context, http://127.0.0.1:9464/
      kubetriage watch --context prod --listen :9464 --notify slack:https://hooks.slack.com/services/T/B/X
      kubetriage watch --in-cluster --listen :9464 --notify alertmanager:http://alertmanager.monitoring:9093
      kubetriage watch --notify webhook:https://ops.example/hooks/kubetriage --logs-every 2m --ssh
      curl -s localhost:9464/metrics | grep '^kubetriage_findings'
    """
    from kubetriage.notify import parse_target
    from kubetriage.watch import Timing
    from kubetriage.watch.command import run_watch
    from kubetriage.watch.server import parse_listen

    address = parse_listen(listen)
    targets = [parse_target(spec) for spec in notify_specs]
    timing = Timing(debounce=debounce, max_delay=max_delay, evidence_every=_duration(logs_every, "--logs-every"))
    every = None if renotify == "never" else timedelta(seconds=_duration(renotify, "--renotify"))
    setup = _setup(config_path, rule_dirs, disable)
    _apply_ssh_defaults(live, setup.config)
    ssh = live.pop("ssh") or live["ssh_inventory"] is not None
    api, cluster, settings = _connect(live)
    run_watch(api, cluster, settings, setup.knowledge, setup.params, setup.config, address, targets, history_where,
              every, timing,
              ssh=(lambda base: _ssh_bundle(base, live)) if ssh else None)


def _mesh_probe(api: Any, settings: ProbeSettings) -> list[dict[str, Any]]:
    from kubetriage.collectors.probe import MeshProbe, ProbeApi

    click.echo("kubetriage: probing the data plane (DaemonSet kubetriage-probe/kubetriage-probe)…", err=True)
    return MeshProbe(ProbeApi(api), settings).run()


@main.command("probe")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Snapshot directory to write probes/mesh.json into (created when missing; exec probe "
                   "results join the entries already there).")
@click.option("--cleanup", is_flag=True, help="Only remove what an interrupted probe run left behind.")
@click.option("--probe-image", default=ProbeSettings.image, show_default=True,
              help="Image of the probe pods (any image with python3 and kubetriage installed).")
@click.option("--probe-timeout", type=click.FloatRange(1), default=ProbeSettings.timeout, show_default=True,
              metavar="SECONDS", help="Bound on the whole run.")
@click.option("--all-pairs-up-to", type=click.IntRange(2), default=ProbeSettings.all_pairs_up_to,
              show_default=True, help="Probe every node pair up to this many nodes, then a ring (O(N)).")
@click.option("--mesh/--no-mesh", default=True, show_default=True, help="Run the DaemonSet mesh probe.")
@click.option("--endpoints/--no-endpoints", default=True, show_default=True,
              help="From here: TLS handshake (SNI) and a GET per Ingress host and path, TCP to each "
                   "LoadBalancer address, at the addresses in their status.")
@click.option("--from", "from_pod", metavar="NS/POD",
              help="Exec probe: run ping, traceroute, nslookup and ip inside this pod (instead of the mesh "
                   "and endpoint probes).")
@click.option("--to", "targets", multiple=True, metavar="TARGET",
              help="With --from (repeatable): NS/POD, svc/NS/NAME, an IP or a host name.")
@click.option("--debug-image", default=ExecSettings.debug_image, show_default=True,
              help="With --from: image of the ephemeral debug container used when the pod lacks a tool.")
@_live_options
def probe_cmd(out: Path | None, cleanup: bool, probe_image: str, probe_timeout: float, all_pairs_up_to: int,
              mesh: bool, endpoints: bool, from_pod: str | None, targets: tuple[str, ...], debug_image: str,
              **live: Any) -> None:
    """Test the data plane: pod-to-pod across nodes, MTU, the kubernetes Service, cluster DNS.

    \b
    Mesh mode (the default) creates, in namespace kubetriage-probe only (deploy/rbac-probe.yaml):
      ConfigMap kubetriage-probe   the peer list
      DaemonSet kubetriage-probe   one pod per node, tolerating every taint, NET_RAW only
    Each pod sends ICMP echo (56 bytes, then pod MTU - 28 with don't-fragment) to its peers,
    a TCP connect to the kubernetes Service and one endpoint, and DNS queries to the cluster DNS
    Service: cluster addresses only. Both objects are deleted when the run ends, fails or is
    interrupted; --cleanup removes the leftovers of a killed run.

    \b
    Exec mode (--from POD --to TARGET) creates nothing unless the pod lacks a tool: it runs
    ip link, ping (and a don't-fragment ping with iputils), traceroute when ping fails, and
    nslookup, through pods/exec (deploy/rbac-exec-probe.yaml). A missing tool is run from an
    ephemeral container (--debug-image, sleeping 10 minutes) added to the pod: the API cannot
    remove it again; it stays, exited, until the pod is replaced.

    \b
    Examples:
      kubetriage probe -o ./snap && kubetriage triage --snapshot ./snap
      kubetriage probe --from shop/web-0 --to shop/api-1 --to svc/shop/api -o ./snap
      kubetriage triage --probe
      kubetriage probe --cleanup
    """
    from kubetriage.collectors.endpoints import endpoint_probes
    from kubetriage.collectors.kube import LiveBundle, api_client
    from kubetriage.collectors.probe import MeshProbe, ProbeApi
    from kubetriage.collectors.probe import cleanup as probe_cleanup

    if targets and not from_pod:
        raise click.UsageError("--to needs --from NS/POD")
    if not cleanup and out is None:
        raise click.UsageError("-o/--output DIR is required (or --cleanup)")
    api, cluster = api_client(live["kubeconfig"], live["context"], live["in_cluster"])
    try:
        if cleanup:
            for gone in probe_cleanup(ProbeApi(api)):
                _echo(f"deleted {gone}", err=True)
            return
        assert out is not None
        started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        chains: dict[str, str] = {}
        if from_pod:
            entries = _kept_entries(out) + _exec_probes(api, from_pod, targets, ExecSettings(
                timeout=live["request_timeout"], debug_image=debug_image))
        else:
            settings = ProbeSettings(image=probe_image, timeout=probe_timeout, all_pairs_up_to=all_pairs_up_to)
            entries = MeshProbe(ProbeApi(api), settings).run() if mesh else []
            if endpoints:
                listed = LiveBundle(api, cluster)
                found, chains = endpoint_probes(listed.objects("ingresses"), listed.objects("services"))
                entries += found
                listed.close()
    finally:
        api.close()
    write_probes(ProbeFiles(mesh=entries, tls=chains), out / "probes", started)
    if not (out / "snapshot.yaml").exists():
        (out / "snapshot.yaml").write_text(yaml.safe_dump(
            {"format": "kubetriage/v1", "cluster": cluster, "collected_at": started}), encoding="utf-8")
    _echo(f"{len(entries)} probe results written to {out / 'probes' / 'mesh.json'}", err=True)


def _kept_entries(out: Path) -> list[dict[str, Any]]:
    """What an earlier probe run wrote to ``out`` (exec probes add to it)."""
    mesh = out / "probes" / "mesh.json"
    if not mesh.is_file():
        return []
    try:
        entries = json.loads(mesh.read_text(encoding="utf-8")).get("probes")
    except (ValueError, AttributeError) as exc:
        raise click.UsageError(f"{mesh}: not a probes file ({exc}); choose another -o") from None
    return list(entries) if isinstance(entries, list) else []


def _exec_probes(api: Any, from_pod: str, targets: tuple[str, ...], settings: ExecSettings) -> list[dict[str, Any]]:
    from kubetriage.collectors.execprobe import DebugContainer, PodExec, WithFallback, resolve, run_checks, source_pod
    from kubetriage.collectors.probe import ProbeApi

    if not targets:
        raise click.UsageError("--from needs at least one --to TARGET")
    probe_api = ProbeApi(api)
    source, container = source_pod(probe_api, from_pod)
    run = WithFallback(PodExec(api, source.namespace, source.name, container, settings.timeout),
                       DebugContainer(probe_api, api, source, settings))
    entries = []
    for ref in targets:
        found = run_checks(run, source, resolve(probe_api, ref, settings), settings)
        for entry in found:
            _echo(f"{entry['kind']} {source.namespace}/{source.name} -> {_described(entry['to'])}: "
                  f"{_outcome(entry)}", err=True)
        entries += found
    if run.used_debug:
        _echo(f"kubetriage: a tool was missing in {from_pod}: ran it in an ephemeral debug container "
              f"({settings.debug_image})", err=True)
    return entries


def _described(to: dict[str, Any]) -> str:
    return " ".join(str(to[k]) for k in ("pod", "name", "host", "ip") if to.get(k))


def _outcome(entry: dict[str, Any]) -> str:
    if entry["kind"] == "pod-to-dns":
        return ", ".join(entry["answers"]) or str(entry["error"])
    replies = f"{entry['received']}/{entry['sent']} replies" if entry["sent"] is not None else "no summary"
    return replies + (f" ({entry['error']})" if entry["error"] else "")


@main.group("runbook", invoke_without_command=True)
@click.option("--snapshot", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Snapshot directory; without it, the current kubeconfig context is read live.")
@click.option("-o", "--output", type=click.Choice(["markdown", "html", "json"]), default="markdown",
              show_default=True)
@_RULES_OPTION
@click.option("--disable", multiple=True, metavar="ID", help="Skip a rule (repeatable).")
@click.option("--now", metavar="RFC3339", help="Evaluate time-based rules at this instant.")
@click.option("--history", "history_db", metavar="PATH",
              help="Incident history (what `kubetriage watch` records): say since when the root causes are seen.")
@_live_options
@_ssh_options
@_CONFIG_OPTION
@click.pass_context
def runbook_group(ctx: click.Context, /, snapshot: Path | None, output: str, rule_dirs: tuple[Path, ...],
                  disable: tuple[str, ...], now: str | None, history_db: str | None, config_path: Path | None,
                  **live: Any) -> None:
    """Write the incident runbook for a triage: root causes, evidence, the steps to take.

    \b
    Examples:
      kubetriage runbook --snapshot ./snap > incident.md
      kubetriage runbook --snapshot ./snap -o html > incident.html
      kubetriage runbook show cni-daemonset-recovery
    """
    if ctx.invoked_subcommand is not None:
        return
    setup = _setup(config_path, rule_dirs, disable)
    report = _triage(setup, snapshot, now, "durable", live)
    with History.open(history_db, create=False) if history_db else nullcontext() as history:
        incident = build_incident(report, setup.knowledge, history.since if history else None)
    if output == "html":
        _echo(incident_html(incident), nl=False)
    elif output == "json":
        _echo(json.dumps(incident.as_dict(), indent=2))
    else:
        _echo(incident_markdown(incident), nl=False)
    _exit_if_too_little(report.too_little)


@runbook_group.command("show")
@click.argument("runbook_id")
@_RULES_OPTION
def runbook_show(runbook_id: str, rule_dirs: tuple[Path, ...]) -> None:
    """Print a runbook template, the rules it serves and the facts it reads."""
    knowledge = Knowledge.load(rule_dirs)
    book = knowledge.runbooks.get(runbook_id)
    if book is None:
        raise KubetriageError(f"no runbook {runbook_id!r} (known: {', '.join(sorted(knowledge.runbooks))})")
    serves = [r for r in knowledge.rules if r.runbook == book.id]
    _echo(f"# {book.path}")
    _echo(f"# serves: {', '.join(r.id for r in serves) or 'no rule'}")
    for rule in serves:
        inputs = ", ".join(f"{a} ({rule.kind_of(a)})" for a in sorted(rule.always_bound))
        _echo(f"# inputs from {rule.id}: {inputs}; plus finding, key, params, cluster")
    _echo(Path(book.path).read_text(encoding="utf-8"), nl=False)


@main.group("rules")
def rules_group() -> None:
    """List, show, lint and test rules."""


@rules_group.command("list")
@_RULES_OPTION
@_CONFIG_OPTION
def rules_list(rule_dirs: tuple[Path, ...], config_path: Path | None) -> None:
    """One line per rule: id, severity, title, origin."""
    for rule in sorted(_setup(config_path, rule_dirs).knowledge.rules, key=lambda r: r.id):
        origin = rule.origin + (" (overrides built-in)" if rule.overrides else "")
        _echo(f"{rule.id:<13} {rule.severity:<9} {rule.title}  [{origin}]")


@rules_group.command("show")
@click.argument("rule_id")
@_RULES_OPTION
def rules_show(rule_id: str, rule_dirs: tuple[Path, ...]) -> None:
    """Print a rule's file and where it lives."""
    for rule in Knowledge.load(rule_dirs).rules:
        if rule.id == rule_id:
            _echo(f"# {rule.path} ({rule.origin})")
            _echo(Path(rule.path).read_text(encoding="utf-8"), nl=False)
            return
    raise KubetriageError(f"no rule with id {rule_id!r} (see `kubetriage rules list`)")


@rules_group.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@_CONFIG_OPTION
def rules_lint(paths: tuple[Path, ...], config_path: Path | None) -> None:
    """Validate rule directories (default: the built-in rules); report every problem."""
    try:
        knowledge = _setup(config_path, paths).knowledge
    except ValidationError as exc:
        for problem in exc.problems:
            _echo(str(problem))
        _echo(f"{len(exc.problems)} problem(s)", err=True)
        sys.exit(EXIT_FINDINGS)
    rules = [r for r in knowledge.rules if r.origin == "user" or not paths]
    _echo(f"{len(rules)} rule(s) OK")


@rules_group.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--rule", "rule_ids", multiple=True, metavar="ID", help="Only this rule (repeatable).")
@_CONFIG_OPTION
def rules_test(paths: tuple[Path, ...], rule_ids: tuple[str, ...], config_path: Path | None) -> None:
    """Run each rule's test cases through durable_rules and the oracle.

    With PATHs, tests the rules in those directories; otherwise the built-in rules.
    """
    knowledge = _setup(config_path, paths).knowledge
    testable = {r.id for r in knowledge.rules
                if not paths or any(Path(r.path).resolve().is_relative_to(p.resolve()) for p in paths)}
    if not testable:
        raise KubetriageError(f"no rule files in {', '.join(map(str, paths))} (a rule is <ID>.yaml, "
                              "its cases <ID>.test.yaml beside it)")
    unknown = sorted(set(rule_ids) - testable)
    if unknown:
        raise KubetriageError(f"--rule names no rule under test: {', '.join(unknown)}")
    rule_ids = rule_ids or tuple(testable)
    passed = failed = 0
    for result in run_rule_tests(knowledge, rule_ids):
        mark = click.style("PASS", fg="green") if result.passed else click.style("FAIL", fg="red")
        click.echo(f"{mark} {terminal(result.label)}  ({terminal(result.path)}:{result.line})")
        for failure in result.failures:
            _echo(f"     {failure}")
        passed, failed = passed + result.passed, failed + (not result.passed)
    _echo(f"{passed} passed, {failed} failed")
    sys.exit(EXIT_FINDINGS if failed or not passed else EXIT_OK)


@rules_group.command("explain")
@click.argument("rule_id")
@click.option("--snapshot", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Snapshot directory (without it, the live cluster).")
@click.option("--now", metavar="RFC3339", help="Evaluate time-based facts at this instant.")
@_RULES_OPTION
@_CONFIG_OPTION
@_live_options
def rules_explain(rule_id: str, snapshot: Path | None, now: str | None, rule_dirs: tuple[Path, ...],
                  config_path: Path | None, **live: Any) -> None:
    """Why a rule fired, or which condition stopped it, pattern by pattern.

    \b
    Example:
      kubetriage rules explain NET-ING-005 --snapshot ./snap
    """
    setup = _setup(config_path, rule_dirs)
    rule = next((r for r in setup.knowledge.rules if r.id == rule_id), None)
    if rule is None:
        raise KubetriageError(f"no rule with id {rule_id!r} (see `kubetriage rules list`)")
    facts = _fact_base(snapshot, now, live, setup.knowledge.signatures, setup.config.window)
    _echo(f"{rule.id} — {rule.title}")
    _, skipped = evaluable([rule], facts)
    if skipped:
        _echo(f"not evaluated: needs {', '.join(skipped[0]['missing'])} (not collected)")
    for trace in explain(rule, facts.facts, setup.params.get(rule.id)):
        _echo("\n".join(trace.lines()))


@rules_group.command("new")
@click.argument("target", metavar="DIR/NAME")
@click.option("--id", "rule_id", default="", help="Rule id (default: NET-CUSTOM-NNN, the next free one).")
def rules_new(target: str, rule_id: str) -> None:
    """Scaffold a rule, its test cases and its runbook; they lint and pass as generated.

    \b
    Example:
      kubetriage rules new my-team/ingress-wrong-port && kubetriage rules test my-team
    """
    for path in scaffold(Path(target), rule_id):
        _echo(f"created {path}")


@main.command("facts")
@click.option("--snapshot", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Snapshot directory (without it, the live cluster).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(sorted(CATALOG)), help="Only this fact kind.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json", "catalog"]), default="yaml", show_default=True,
              help="catalog: describe the fact kinds and their fields instead.")
@click.option("--now", metavar="RFC3339", help="Evaluate time-based facts at this instant.")
@_live_options
def facts_cmd(snapshot: Path | None, kinds: tuple[str, ...], output: str, now: str | None, **live: Any) -> None:
    """The fact base rules see (or, with -o catalog, what each fact kind means)."""
    if output == "catalog":
        for kind in (CATALOG[k] for k in (kinds or sorted(CATALOG))):
            _echo(f"{kind.name}: {kind.description}  [needs {', '.join(kind.sources)}]")
            for name, spec in kind.fields.items():
                _echo(f"  {name} ({spec.type.__name__}): {spec.description}")
        return
    base = _fact_base(snapshot, now, live, SignatureCatalog.load())
    selected = [f for f in base.facts if not kinds or f["kind"] in kinds]
    if output == "json":
        _echo(json.dumps(selected, indent=2))
    else:
        _echo(yaml.safe_dump(selected, sort_keys=False, allow_unicode=True), nl=False)


@main.command("history")
@click.option("--db", metavar="PATH", help=f"History database (default: {default_path()}, where "
                                           "`kubetriage watch` records).")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True,
              help="At most this many incidents, the most recently seen first.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def history_cmd(db: str | None, limit: int, output: str) -> None:
    """Recent incidents: first seen, last seen, resolved at, and how often each flapped.

    \b
    Examples:
      kubetriage history
      kubetriage history --db /var/lib/kubetriage/history.db -o json --limit 10
    """
    with History.open(db or default_path(), create=False) as history:
        render_history(history.recent(limit), output, Console(width=None if sys.stdout.isatty() else 120))


@main.command("schema")
@click.argument("name", type=click.Choice(SCHEMAS))
def schema_cmd(name: str) -> None:
    """Print the JSON Schema of rule, runbook or config files (for editor completion)."""
    _echo(json.dumps(schema(name), indent=2))


@main.group("config")
def config_group() -> None:
    """Inspect the configuration file."""


@config_group.command("show")
@_CONFIG_OPTION
def config_show(config_path: Path | None) -> None:
    """Print the effective configuration and where each value came from."""
    config = load_config(config_path)
    if config.path is None:
        _echo(f"# no config file (looked for {', '.join(map(str, search_path()))}); defaults apply")
    values = {
        "rules": [str(p) for p in config.rule_dirs], "runbooks": [str(p) for p in config.runbook_dirs],
        "disable": config.disable, "severity": config.severity, "params": config.params,
        "thresholds": config.thresholds,
        "exclude": [{k: v for k, v in vars(e).items() if v} for e in config.exclude], "ssh": config.ssh,
    }
    for key, value in values.items():
        source = config.origins.get(key, "default")
        _echo(f"# {key}: from {source}")
        _echo(yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False), nl=False)


@rules_group.command("docs")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/rules"),
              show_default=True, help="Directory for <ID>.md pages and the catalog README.md.")
@click.option("--readme", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also regenerate the catalog between the rule-catalog markers of this README.")
@_RULES_OPTION
@_CONFIG_OPTION
def rules_docs(out: Path, readme: Path | None, rule_dirs: tuple[Path, ...], config_path: Path | None) -> None:
    """Generate one documentation page per rule, and the catalog."""
    for path in write_docs(_setup(config_path, rule_dirs).knowledge, out, readme):
        _echo(f"wrote {path}")
