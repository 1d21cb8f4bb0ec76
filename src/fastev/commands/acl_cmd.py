"""``fastev acl check``: may this identity see events of this kind on this path?

Prints ``allow`` or ``deny`` as the last stdout line and exits 0; an invalid
rule file or path prints a clear error and exits 2. Without ``--kind`` the
question is "every kind": ``allow`` only if all kinds are allowed (the kinds
that are allowed are listed first).
"""
from __future__ import annotations

import argparse
from typing import Any

from ..event import KINDS
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
    c.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    from .._ref.paths import canonical_path
    from ..acl import Acl, Identity
    from ..errors import ConfigError

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
        print("allow" if acl.allows(identity, args.path, args.kind) else "deny")
        return 0
    allowed = [k for k in KINDS if acl.allows(identity, args.path, k)]
    print("kinds allowed: " + (", ".join(allowed) if allowed else "none"))
    print("allow" if len(allowed) == len(KINDS) else "deny")
    return 0
