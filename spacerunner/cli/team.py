"""``users``, ``tokens`` and ``access``: the people of a team server and who sees which Space.

They change the files under the state directory that every server of this machine reads (a
running server picks changes up at once); no server needs to run.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from pathlib import Path

from spacerunner.auth import TeamFiles
from spacerunner.auth.access import AccessStore, Visibility, visibility
from spacerunner.auth.accounts import AccountStore, generated_password
from spacerunner.errors import AccountError
from spacerunner.paths import state_dir


def add_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="the accounts of this machine's team servers")
    users.set_defaults(handler="team:users_command")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", help="add a user (password from standard input, or generated and printed once)"
    )
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may manage every Space and user")
    add.add_argument("--group", action="append", default=[], help="a group it belongs to")
    add.add_argument("--email", default="")
    passwd = actions.add_parser("passwd", help="set a user's password (ends their sessions)")
    passwd.add_argument("name")
    remove = actions.add_parser("remove", help="remove a user and their tokens")
    remove.add_argument("name")
    change = actions.add_parser("set", help="change a user's admin flag or groups")
    change.add_argument("name")
    change.add_argument("--admin", choices=["yes", "no"])
    change.add_argument("--group", action="append", help="the groups (replaces the old list)")
    list_users = actions.add_parser("list", help="list users")

    tokens = sub.add_parser("tokens", help="API tokens (CLI, scripts, git over HTTP)")
    tokens.set_defaults(handler="team:tokens_command")
    token_actions = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = token_actions.add_parser("create", help="a new token for USER, printed once")
    create.add_argument("user")
    create.add_argument("--name", default="", help="what it is for, e.g. laptop")
    listing = token_actions.add_parser("list", help="list tokens (never their text)")
    listing.add_argument("user", nargs="?")
    revoke = token_actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id")

    access = sub.add_parser("access", help="who may see a Space, and who owns it")
    access.set_defaults(handler="team:access_command")
    access.add_argument("space")
    access.add_argument("--visibility", choices=[v.value for v in Visibility])
    access.add_argument(
        "--owner",
        action="append",
        help="a user or group who may start, stop, read logs of and manage secrets of it "
        "(repeat; replaces the old list)",
    )
    access.add_argument("--no-owners", action="store_true", help="remove every owner")

    for parser in (add, passwd, remove, change, list_users, create, listing, revoke, access):
        parser.add_argument(
            "--state-dir", type=Path, help="the state directory the server uses (--state-dir)"
        )


def _files(args: argparse.Namespace) -> TeamFiles:
    return TeamFiles(getattr(args, "state_dir", None) or state_dir())


def _password(prompt: str) -> str | None:
    """A password from standard input (a terminal asks twice), or None to generate one."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"{prompt} (empty: generate one): ")
        if first and getpass.getpass("again: ") != first:
            raise AccountError("the two passwords differ. Fix: type the same one twice.")
        return first or None
    given = sys.stdin.readline().rstrip("\n")
    return given or None


def users_command(args: argparse.Namespace) -> int:
    store = AccountStore(_files(args).accounts)
    action = args.users_command
    if action == "list":
        for account in store.accounts():
            flags = " admin" if account.admin else ""
            groups = f" groups={','.join(account.groups)}" if account.groups else ""
            print(f"{account.name}{flags}{groups}")
        return 0
    if action == "add":
        password = _password(f"password for {args.name}")
        shown = password is None
        password = password or generated_password()
        store.add(args.name, password, admin=args.admin, groups=args.group, email=args.email)
        print(f"added {args.name}" + (f"; password (shown once): {password}" if shown else ""))
    elif action == "passwd":
        password = _password(f"new password for {args.name}")
        shown = password is None
        password = password or generated_password()
        store.set_password(args.name, password)
        print(f"password of {args.name} changed" + (f": {password}" if shown else ""))
    elif action == "remove":
        store.remove(args.name)
        print(f"removed {args.name}")
    elif action == "set":
        admin = None if args.admin is None else args.admin == "yes"
        account = store.update(args.name, admin=admin, groups=args.group)
        print(f"{account.name}: admin={account.admin} groups={','.join(account.groups)}")
    return 0


def tokens_command(args: argparse.Namespace) -> int:
    store = AccountStore(_files(args).accounts)
    if args.tokens_command == "create":
        print(store.create_token(args.user, args.name))
    elif args.tokens_command == "list":
        for token in store.tokens(args.user):
            made = time.strftime("%Y-%m-%d", time.localtime(token.created))
            print(f"{token.id}  {token.user:<16} {made}  {token.name}")
    elif not store.revoke_token(args.id):
        raise AccountError(f"no token {args.id!r}. Fix: 'spacerunner tokens list'.")
    else:
        print(f"revoked {args.id}")
    return 0


def access_command(args: argparse.Namespace) -> int:
    store = AccessStore(_files(args).access)
    owners = () if args.no_owners else tuple(args.owner) if args.owner else None
    if args.visibility is not None or owners is not None:
        rule = store.set(
            args.space,
            visibility=visibility(args.visibility) if args.visibility else None,
            owners=owners,
        )
    else:
        rule = store.get(args.space)
    print(f"{args.space}: {rule.visibility} owners={','.join(rule.owners) or '-'}")
    return 0
