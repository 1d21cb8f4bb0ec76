"""``fastev acl check``: may this identity see events of this kind on this path?

Prints ``allow`` or ``deny`` as the last stdout line and exits 0; an invalid
rule file or path prints a clear error and exits 2. Without ``--kind`` the
question is "every kind": ``allow`` only if all kinds are allowed (the kinds
that are allowed are listed first). ``--source`` asks about events of that
source; without it only rules that name no ``sources`` count (docs/formats.md §6).
"""
from __future__ import annotations

import argparse
from typing import Any

from ..event import DECODER_NAMES, KINDS
from ._io import fail


def add_parser(sub: Any) -> None:
    p = sub.add_parser("acl", help="inspect ACL rule files")
    acl_sub = p.add_subparsers(dest="acl_command", required=True, metavar="ACL_COMMAND")
    c = acl_sub.add_parser("check", help="decide one (identity, path, kind)", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--acl", required=True, metavar="FILE", help="TOML rule file")
    c.add_argument("--user", metavar="NAME")
    c.add_argument("--uid", type=int, metavar="N")
    c.add_argument("--group", action="append", nargs="+", default=[], metavar="NAME")
    c.add_argument("--path", required=True)
    c.add_argument("--kind", choices=KINDS, metavar="KIND", help=f"one of {', '.join(KINDS)}")
    c.add_argument("--source", choices=DECODER_NAMES, metavar="SOURCE",
                   help=f"the event's source, one of {', '.join(DECODER_NAMES)}")
    c.set_defaults(run=run_check)
    k = acl_sub.add_parser("kafka-bindings", help="Kafka ACL bindings for the pipeline's routes",
                           description=KAFKA_BINDINGS_DOC,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    k.add_argument("--acl", required=True, metavar="FILE", help="TOML rule file (the one the config uses)")
    k.add_argument("--config", required=True, metavar="FILE", help="the `fastev run` pipeline config")
    k.add_argument("--format", choices=("json", "commands", "both"), default="both",
                   help="json: the bindings as a JSON list (notes on stderr); commands: kafka-acls lines "
                        "after '#' header comments; both (default): header, commands, then the JSON")
    k.add_argument("--bootstrap-server", metavar="HOST:PORT",
                   help="for the kafka-acls lines (default: the config's kafka.bootstrap_servers, "
                        "else localhost:9092)")
    k.add_argument("--dead-letter-principal", action="append", default=[], metavar="PRINCIPAL",
                   help="a reader of the dead-letter topic (repeatable; default none)")
    k.set_defaults(run=run_kafka_bindings)


def run_check(args: argparse.Namespace) -> int:
    from ..acl import Acl, Identity
    from ..errors import ConfigError
    from ..paths import canonical_path

    try:
        acl = Acl.from_toml(args.acl)
    except (ConfigError, OSError) as e:
        return fail(str(e))
    if args.path != "" and canonical_path(args.path) is None:
        return fail(f"--path {args.path!r} is not a canonical absolute path "
                    "(relative, '.', '..' or NUL components are never allowed)")
    if args.uid is not None and args.uid < 0:
        return fail("--uid must not be negative")
    groups = tuple(g for chunk in args.group for g in chunk)
    identity = Identity(user=args.user, uid=args.uid, groups=groups)
    if args.kind is not None:
        print("allow" if acl.allows(identity, args.path, args.kind, args.source) else "deny")
        return 0
    allowed = [k for k in KINDS if acl.allows(identity, args.path, k, args.source)]
    print("kinds allowed: " + (", ".join(allowed) if allowed else "none"))
    print("allow" if len(allowed) == len(KINDS) else "deny")
    return 0


KAFKA_BINDINGS_DOC = """\
``fastev acl kafka-bindings``: the Kafka ACL bindings giving each route's readers exactly their topics.

For every principal on a route: ALLOW READ and DESCRIBE on the route's topic
(TOPIC, LITERAL, host *). Principals map user:NAME -> User:NAME, group:G ->
Group:G, uid:N -> User:uid-N, * -> User:*. Routes without principals and the
dead-letter topic get no reader bindings (default deny). A route delivers only
what ALL its principals may see under the ACL, so no reader can be granted a
topic carrying events the ACL denies it. An invalid config or ACL exits 2.
"""


def run_kafka_bindings(args: argparse.Namespace) -> int:
    import sys

    from ..errors import ConfigError
    from ..kafka.bindings import header_lines, plan_bindings, render_commands, render_json
    from ..pipeline.config import load_config

    try:
        config = load_config(args.config)
        plan = plan_bindings(args.acl, config, args.dead_letter_principal)
        bootstrap = args.bootstrap_server or config.bootstrap_servers or "localhost:9092"
    except ConfigError as e:
        return fail(str(e))
    header = header_lines(plan)
    if args.format == "json":
        print("\n".join(header), file=sys.stderr)
        print(render_json(plan.bindings))
        return 0
    print("\n".join(header))
    lines = render_commands(plan.bindings, bootstrap)
    print("\n".join(lines) if lines else "# (no bindings)")
    if args.format == "both":
        print()
        print(render_json(plan.bindings))
    return 0
