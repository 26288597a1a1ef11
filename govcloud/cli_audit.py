"""The audit log's commands: ``audit list`` and ``audit verify`` (the hash chain, MACs and
the newest signed checkpoint of an anchor file). Registered by ``govcloud.cli``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from govcloud.cli_control import _client, _cmd, _group, _print_json, _table, echo
from govcloud.client import as_json
from govcloud.errors import InvalidInput, PermanentError


def cmd_audit_list(args: argparse.Namespace) -> int:
    params = {"actor": args.actor, "action": args.action, "target": args.target,
              "department": args.department, "since": args.since, "until": args.until,
              "after_seq": args.after_seq, "limit": args.limit,
              "newest_first": "true" if args.newest_first else None}
    with _client(args) as api:
        entries = api.audit(**params).entries
    if args.json:
        _print_json([as_json(e) for e in entries])
        return 0
    echo(_table([(str(e.seq), e.at, e.actor, e.action, e.target)
                  for e in entries], ("SEQ", "AT", "ACTOR", "ACTION", "TARGET")))
    return 0


def _newest_checkpoint(anchor: Path, key_file: Path | None) -> Any:
    """The newest checkpoint of an anchor file, after checking that its seqs never go back
    and — with the audit key — every line's signature."""
    from govcloud.services.audit_anchor import read_checkpoints, read_key

    key = read_key(key_file) if key_file is not None else None
    newest, count = None, 0
    for line, checkpoint in read_checkpoints(anchor):
        count += 1
        if key is not None and not checkpoint.signed_by(key):
            raise PermanentError(f"{anchor} line {line}: the checkpoint of entry "
                                 f"{checkpoint.seq} is not signed with the audit key "
                                 f"(key id {key.key_id}; the line names {checkpoint.key_id})",
                                 hint="the anchor file was edited, or the key is not the "
                                      "server's: compare it with another copy")
        if newest is not None and checkpoint.seq < newest.seq:
            raise PermanentError(f"{anchor} line {line}: checkpoint {checkpoint.seq} comes "
                                 f"after checkpoint {newest.seq}: the file was edited",
                                 hint="checkpoints only ever go forward")
        newest = checkpoint
    if newest is None:
        raise InvalidInput(f"the anchor file {anchor} holds no checkpoint",
                           hint="the server appends one to its audit_anchor_file every "
                                "audit_checkpoint_interval_s while the log grows")
    if key is not None:
        echo(f"{anchor}: {count} checkpoints, all signed with key {key.key_id}",
             file=sys.stderr)
    return newest


def cmd_audit_verify(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {}
    if args.key_file is not None and args.anchor is None:
        raise InvalidInput("--key-file checks an anchor file's signatures: give --anchor too")
    if args.anchor is not None:
        newest = _newest_checkpoint(args.anchor, args.key_file)
        params = {f"anchor_{k}": v for k, v in newest.to_dict().items()}
    with _client(args) as api:
        result = api.audit_verify(**params)
    if args.json:
        _print_json(as_json(result))
        return 0 if result.ok else 1
    if not result.ok:
        raise PermanentError(result.description,
                             hint=f"entry {result.seq} was {result.kind}; compare it "
                                  "with a backup or an archived copy of the log")
    echo(result.description)
    return 0


def register(commands: Any) -> None:
    """``audit``."""
    sub = _group(commands, "audit", "the tamper-evident audit log")
    p = _cmd(sub, "list", cmd_audit_list, "list audit entries (those you may see)")
    for flag in ("--actor", "--action", "--target", "--department", "--since", "--until"):
        p.add_argument(flag)
    p.add_argument("--after-seq", type=int)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--newest-first", action="store_true")
    p = _cmd(sub, "verify", cmd_audit_verify, "verify the hash chain, every entry's MAC and "
             "that the chain still reaches the newest signed checkpoint; exits non-zero and "
             "names the first bad entry when it does not")
    p.add_argument("--anchor", type=Path, metavar="FILE",
                   help="an anchor file (the server's audit_anchor_file, or your copy): the "
                        "chain must still reach its newest checkpoint with the same hash")
    p.add_argument("--key-file", type=Path, metavar="KEY",
                   help="the audit key: also check every checkpoint's signature here (without "
                        "it the server checks the newest one's)")
