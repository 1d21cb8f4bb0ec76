"""ACL lookup cost against rule count: native trie vs reference trie vs brute force.

Rules look like a site's: many communities under /pnfs/site/data/<vo>/<sub>/...,
group grants per community, user grants and denies deeper down. Queries are
random paths 4 to 10 components deep inside those trees. One round is
QUERIES lookups, so per-lookup time is the round time / QUERIES. Flat times
across 10, 1,000 and 100,000 rules show a lookup walks the path, not the rules.

    PYTHONPATH=src python -m pytest benchmarks/bench_acl.py --benchmark-only -q
"""
from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from fastev._ref import acl as ref
from fastev.event import KINDS

NO_EXTENSIONS = os.environ.get("FASTEV_NO_EXTENSIONS", "") not in ("", "0")
native: ModuleType | None = None
if not NO_EXTENSIONS:
    from fastev._core import acl as native

QUERIES = 500
RULE_COUNTS = (10, 1_000, 100_000)
SUBDIRS = ("raw", "mc", "user", "scratch", "calib")


def _vo(i: int) -> str:
    return f"vo{i:05d}"


@functools.cache
def site(n_rules: int) -> tuple[tuple[ref.Rule, ...], tuple[tuple[ref.Identity, str, int], ...]]:
    """``n_rules`` rules over n_rules/50 communities, and QUERIES (identity, path, kind) lookups."""
    rng = random.Random(n_rules)
    n_vos = max(1, n_rules // 50)
    rules: list[ref.Rule] = []
    for i in range(n_rules):
        vo = _vo(i % n_vos)
        base = f"/pnfs/site/data/{vo}"
        shape = rng.random()
        if i < n_vos:
            rules.append(ref.Rule("allow", (f"group:/{vo}",), (base,)))
        elif shape < 0.6:
            user = f"u{rng.randrange(n_rules)}"
            rules.append(ref.Rule("allow", (f"user:{user}", f"uid:{rng.randrange(10**6)}"),
                                  (f"{base}/{rng.choice(SUBDIRS)}/{user}",)))
        elif shape < 0.9:
            kinds = rng.sample(range(len(KINDS)), 3)
            rules.append(ref.Rule("allow", (f"group:/{vo}/{rng.choice(SUBDIRS)}",),
                                  (f"{base}/{rng.choice(SUBDIRS)}/d{rng.randrange(100)}",),
                                  sum(1 << k for k in kinds)))
        else:
            rules.append(ref.Rule("deny", (f"group:/{vo}",), (f"{base}/{rng.choice(SUBDIRS)}/private",)))
    queries = []
    for _ in range(QUERIES):
        vo = _vo(rng.randrange(n_vos))
        depth = rng.randint(4, 10)
        parts = ["pnfs", "site", "data", vo, rng.choice(SUBDIRS)]
        parts += [rng.choice(("private", f"d{rng.randrange(100)}", f"u{rng.randrange(n_rules)}", "f.root"))
                  for _ in range(max(0, depth - len(parts)))]
        identity = ref.Identity(user=f"u{rng.randrange(n_rules)}", uid=rng.randrange(10**6),
                                groups=(f"/{vo}", f"/{vo}/{rng.choice(SUBDIRS)}"))
        queries.append((identity, "/" + "/".join(parts[:depth]), rng.randrange(len(KINDS))))
    return tuple(rules), tuple(queries)


@functools.cache
def trie(impl_name: str, n_rules: int) -> Any:
    impl = ref if impl_name == "reference" else native
    assert impl is not None, "native extension not available"
    return impl.PathTrie(site(n_rules)[0])


IMPLS = ["reference"] + ([] if NO_EXTENSIONS else ["native"])


def run_all(lookup: Callable[[ref.Identity, str, int], bool], queries: Any) -> int:
    return sum(lookup(identity, path, kind) for identity, path, kind in queries)


@pytest.mark.parametrize("n_rules", RULE_COUNTS)
@pytest.mark.parametrize("impl_name", IMPLS)
def test_trie_allows(benchmark: Any, impl_name: str, n_rules: int) -> None:
    """PathTrie.allows(identity, path, kind): canonicalisation + walk with per-principal grants."""
    acl = trie(impl_name, n_rules)
    queries = site(n_rules)[1]
    benchmark.extra_info["lookups_per_round"] = QUERIES
    benchmark(run_all, acl.allows, queries)


@pytest.mark.parametrize("n_rules", RULE_COUNTS[:2])
def test_bruteforce_allows(benchmark: Any, n_rules: int) -> None:
    rules, queries = site(n_rules)
    benchmark.extra_info["lookups_per_round"] = QUERIES
    benchmark(run_all, functools.partial(ref.allows_bruteforce, rules), queries)


@pytest.mark.parametrize("n_rules", RULE_COUNTS)
@pytest.mark.parametrize("impl_name", IMPLS)
def test_view_match_canonical(benchmark: Any, impl_name: str, n_rules: int) -> None:
    """IdentityView on canonical UTF-8: the per-event cost the transcoder pays, plus one Python call."""
    queries = site(n_rules)[1]
    views = {identity: trie(impl_name, n_rules).view(identity) for identity, _, _ in queries}
    calls = [(views[identity].match_canonical, path.encode(), kind) for identity, path, kind in queries]

    def run() -> int:
        return sum(match(path, kind) for match, path, kind in calls)

    benchmark.extra_info["lookups_per_round"] = QUERIES
    benchmark(run)
