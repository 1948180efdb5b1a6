"""`ringcache quota|ttl|priority|filter add|list|remove`: the cache policies over the REST API.

    ringcache quota add /data/train 10GB [--action EVICT]
    ringcache quota list
    ringcache ttl add /data/tmp 1h
    ringcache priority add /data/hot HIGH
    ringcache filter add '.*/tmp/.*' skipCache
    ringcache filter default maxAge --time 10s
    ringcache filter remove '.*/tmp/.*' skipCache

`add` and `remove` print the rule the server answers with; `list` prints a table (or JSON).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .format import human_bytes
from .rest import request

ApiFlags = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class PathPolicy:
    """A policy kept per cluster path: its command, REST endpoint and the value it sets."""

    command: str
    endpoint: str
    help: str
    value: str  # the body field `add` sets, also the name of its argument
    value_help: str
    columns: tuple[str, ...]


PATH_POLICIES = (
    PathPolicy(
        "quota",
        "/quota",
        "cap the bytes cached under a path",
        "size",
        "bytes or a size like 10GB, 512MiB",
        ("path", "size", "action", "used"),
    ),
    PathPolicy(
        "ttl",
        "/ttl",
        "expire data cached under a path after a time",
        "time",
        "seconds or a duration like 500ms, 10s, 5m, 1h, 2d",
        ("path", "time"),
    ),
    PathPolicy(
        "priority",
        "/priority",
        "set the eviction level of data under a path",
        "priority",
        "HIGH, MEDIUM or LOW (LOW is evicted first)",
        ("path", "priority"),
    ),
)


def add_policy_commands(commands: Any, api_flags: ApiFlags) -> None:
    """Add the `quota`, `ttl`, `priority` and `filter` commands to the `ringcache` parser."""
    for policy in PATH_POLICIES:
        parser = commands.add_parser(policy.command, help=policy.help)
        actions = parser.add_subparsers(dest="policy_action", required=True, metavar="ACTION")
        add = _leaf(actions, "add", f"add or update a {policy.command} rule", api_flags)
        add.add_argument("path", help="cluster path or UFS URI")
        add.add_argument(policy.value, help=policy.value_help)
        if policy.command == "quota":
            add.add_argument(
                "--action",
                dest="quota_action",
                choices=("DEFAULT", "EVICT"),
                help="past the quota: DEFAULT does not cache, EVICT evicts the least "
                "recently used data under the path",
            )
        add.set_defaults(run=lambda args, p=policy: _add_path_rule(args, p))
        listing = _leaf(actions, "list", f"list the {policy.command} rules", api_flags)
        listing.add_argument("path", nargs="?", help="only the rule on this path")
        listing.add_argument("--json", action="store_true", help="print JSON, not a table")
        listing.set_defaults(run=lambda args, p=policy: _list_path_rules(args, p))
        remove = _leaf(actions, "remove", f"remove a {policy.command} rule", api_flags)
        remove.add_argument("path", help="the path the rule is on")
        remove.set_defaults(run=lambda args, p=policy: _remove_path_rule(args, p))
    _add_filter_commands(commands, api_flags)


def _add_filter_commands(commands: Any, api_flags: ApiFlags) -> None:
    parser = commands.add_parser("filter", help="decide per UFS path how data is cached")
    actions = parser.add_subparsers(dest="policy_action", required=True, metavar="ACTION")
    rules = ("immutable", "maxAge", "skipCache")
    add = _leaf(actions, "add", "add a rule (tried in the order added)", api_flags)
    add.add_argument("pattern", help="a regex the whole UFS path must match")
    add.add_argument("rule", choices=rules)
    add.add_argument("--time", help="how long maxAge data is served before revalidation")
    add.set_defaults(run=_add_filter)
    default = _leaf(actions, "default", "change the rule for paths no pattern matches", api_flags)
    default.add_argument("rule", choices=rules)
    default.add_argument("--time", help="for maxAge: how long before revalidation")
    default.set_defaults(run=_set_default_filter)
    listing = _leaf(actions, "list", "list the rules and the default", api_flags)
    listing.add_argument("--json", action="store_true", help="print JSON, not a table")
    listing.set_defaults(run=_list_filters)
    remove = _leaf(actions, "remove", "remove a rule (not the default)", api_flags)
    remove.add_argument("pattern")
    remove.add_argument("rule", choices=rules)
    remove.set_defaults(run=_remove_filter)


def _leaf(actions: Any, name: str, help: str, api_flags: ApiFlags) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, help=help)
    api_flags(parser)
    parser.set_defaults(config=None)
    return parser


def _print(value: Any) -> int:
    print(json.dumps(value, indent=2))
    return 0


# -- quota, TTL, priority -----------------------------------------------------------------


def _add_path_rule(args: argparse.Namespace, policy: PathPolicy) -> int:
    body = {"path": args.path, policy.value: _number_or_text(getattr(args, policy.value))}
    if getattr(args, "quota_action", None):
        body["action"] = args.quota_action
    return _print(request(args, "POST", policy.endpoint, json=body))


def _remove_path_rule(args: argparse.Namespace, policy: PathPolicy) -> int:
    return _print(request(args, "DELETE", policy.endpoint, json={"path": args.path}))


def _list_path_rules(args: argparse.Namespace, policy: PathPolicy) -> int:
    if args.path:
        rules = [request(args, "GET", policy.endpoint, params={"path": args.path})]
    else:
        rules = request(args, "GET", policy.endpoint)["results"]
    if args.json:
        return _print(rules)
    rows = [[_cell(policy, column, rule) for column in policy.columns] for rule in rules]
    _table(f"{policy.command} rules", policy.columns, rows)
    return 0


def _cell(policy: PathPolicy, column: str, rule: dict[str, Any]) -> str:
    if column == "used":
        return f"{human_bytes(rule.get('usedBytes', 0))} of {human_bytes(rule.get('sizeBytes'))}"
    return str(rule.get(column, ""))


def _number_or_text(value: str) -> int | str:
    """`10` is 10 bytes or seconds, as the API takes integers; anything else goes as text."""
    return int(value) if value.isdigit() else value


# -- cache filter -------------------------------------------------------------------------


def _add_filter(args: argparse.Namespace) -> int:
    body = {"pattern": args.pattern, "rule": args.rule}
    if args.time is not None:
        body["time"] = _number_or_text(args.time)
    return _print(request(args, "POST", "/cache-filter", json=body))


def _set_default_filter(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"updateDefault": True, "rule": args.rule}
    if args.time is not None:
        body["time"] = _number_or_text(args.time)
    return _print(request(args, "POST", "/cache-filter", json=body))


def _remove_filter(args: argparse.Namespace) -> int:
    body = {"pattern": args.pattern, "rule": args.rule}
    return _print(request(args, "DELETE", "/cache-filter", json=body))


def _list_filters(args: argparse.Namespace) -> int:
    answer = request(args, "GET", "/cache-filter")
    if args.json:
        return _print(answer)
    rows = [[r["pattern"], r["rule"], r.get("time", "")] for r in answer["results"]]
    default = answer["default"]
    rows.append(["(default)", default["rule"], default.get("time", "")])
    _table("cache filter (first match wins)", ("pattern", "rule", "time"), rows)
    return 0


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
