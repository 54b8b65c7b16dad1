"""Image commands: images, pull, push, tag, rmi, save, load, import, history, login, logout,
image ls/inspect/prune/rm."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import IO, Any

from dockyard.cli import formatting as fmt
from dockyard.cli.common import inspect_objects, write_stream
from dockyard.cli.system import confirm, parse_filter_args
from dockyard.client import APIClient, APIError, StreamError

IMAGE_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Digest": "DIGEST",
    "Containers": "CONTAINERS",
}
IMAGE_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
HUB = "https://index.docker.io/v1/"


def register(cli: Any) -> None:
    top = cli.top
    grp = cli.group("image", "Manage images")
    pairs = ((top, "dockyard"), (grp, "dockyard image"))

    def cmd(
        top_name: str | None,
        mgmt_name: str | None,
        func: Any,
        help: str,
        aliases: tuple[str, ...] = (),
    ) -> list[argparse.ArgumentParser]:
        out = []
        for sub, prefix in pairs:
            name = top_name if sub is top else mgmt_name
            if not name:
                continue
            p = sub.add_parser(
                name,
                help=help,
                prog=f"{prefix} {name}",
                aliases=list(aliases) if sub is grp else [],
            )
            p.set_defaults(func=func)
            out.append(p)
        return out

    for p in cmd("images", "ls", cmd_images, "List images", aliases=("list",)):
        p.add_argument("-a", "--all", action="store_true", help="Show all images")
        p.add_argument("--digests", action="store_true", help="Show digests")
        p.add_argument("-f", "--filter", action="append", default=[], help="Filter output")
        p.add_argument("--format", help="Format output using a custom template")
        p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
        p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
        p.add_argument("repository", nargs="?")
    for p in cmd("pull", "pull", cmd_pull, "Download an image from a registry"):
        p.add_argument("-a", "--all-tags", action="store_true", help="Download all tags")
        p.add_argument("--platform", help="Set platform if server is multi-platform capable")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
        p.add_argument("name")
    for p in cmd("push", "push", cmd_push, "Upload an image to a registry"):
        p.add_argument("-a", "--all-tags", action="store_true", help="Push all tags")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
        p.add_argument("name")
    for p in cmd("tag", "tag", cmd_tag, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"):
        p.add_argument("source")
        p.add_argument("target")
    for p in cmd("rmi", "rm", cmd_rmi, "Remove one or more images", aliases=("remove",)):
        p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
        p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
        p.add_argument("images", nargs="+")
    for p in cmd("save", "save", cmd_save, "Save one or more images to a tar archive"):
        p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
        p.add_argument("images", nargs="+")
    for p in cmd("load", "load", cmd_load, "Load an image from a tar archive or STDIN"):
        p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
        p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    for p in cmd("import", "import", cmd_import, "Import the contents from a tarball"):
        p.add_argument(
            "-c",
            "--change",
            action="append",
            default=[],
            help="Apply Dockerfile instruction to the created image",
        )
        p.add_argument("-m", "--message", help="Set commit message for imported image")
        p.add_argument("--platform", help="Set platform if server is multi-platform capable")
        p.add_argument("source")
        p.add_argument("repository", nargs="?")
    for p in cmd("history", "history", cmd_history, "Show the history of an image"):
        p.add_argument("--format", help="Format output using a custom template")
        p.add_argument("-H", "--human", type=lambda v: v.lower() != "false", default=True)
        p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
        p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
        p.add_argument("image")
    p = cli.command(grp, "inspect", cmd_image_inspect, "Display detailed information on images")
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("images", nargs="+")
    p = cli.command(grp, "prune", cmd_image_prune, "Remove unused images")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values")
    p = cli.command(top, "login", cmd_login, "Authenticate to a registry")
    p.add_argument("-u", "--username", help="Username")
    p.add_argument("-p", "--password", help="Password or Personal Access Token")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.add_argument("server", nargs="?")
    p = cli.command(top, "logout", cmd_logout, "Log out from a registry")
    p.add_argument("server", nargs="?")


# ----------------------------------------------------------------------------- credentials


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _load_config() -> dict[str, Any]:
    try:
        with open(config_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save_config(cfg: dict[str, Any]) -> None:
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(cfg, f, indent="\t")
    os.replace(tmp, path)


def registry_of(ref: str) -> str:
    """The config.json key for a reference's registry (Docker Hub's is its v1 URL)."""
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return HUB


def auth_header(ref_or_server: str) -> str | None:
    """X-Registry-Auth for a reference (or a server), from config.json's auths."""
    server = (
        registry_of(ref_or_server)
        if "/" in ref_or_server or ":" not in ref_or_server
        else ref_or_server
    )
    auths = _load_config().get("auths") or {}
    entry = auths.get(server) or auths.get(f"https://{server}") or auths.get(f"http://{server}")
    if not entry or not entry.get("auth"):
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    creds = {"username": user, "password": password, "serveraddress": server}
    if entry.get("identitytoken"):  # a token server's refresh token, kept by login
        creds = {"username": user, "identitytoken": entry["identitytoken"], "serveraddress": server}
    return base64.urlsafe_b64encode(json.dumps(creds).encode()).decode()


def cmd_login(client: APIClient, args: argparse.Namespace) -> int:
    server = args.server or HUB
    user = args.username
    password = args.password
    if args.password_stdin:
        password = sys.stdin.read().rstrip("\n")
    if not user:
        sys.stdout.write("Username: ")
        sys.stdout.flush()
        user = sys.stdin.readline().strip()
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    answer = client.system.auth({"username": user, "password": password, "serveraddress": server})
    cfg = _load_config()
    token = (answer or {}).get("IdentityToken")
    # as docker: with an identity token the password is not kept
    entry = {"auth": base64.b64encode(f"{user}:{'' if token else password}".encode()).decode()}
    if token:
        entry["identitytoken"] = token
    cfg.setdefault("auths", {})[server] = entry
    _save_config(cfg)
    print("Login Succeeded")
    return 0


def cmd_logout(client: APIClient, args: argparse.Namespace) -> int:
    server = args.server or HUB
    cfg = _load_config()
    auths = cfg.get("auths") or {}
    if server not in auths:
        print(f"Not logged in to {server}")
        return 0
    print(f"Removing login credentials for {server}")
    del auths[server]
    _save_config(cfg)
    return 0


# ----------------------------------------------------------------------------- progress


def show_progress(messages: Any, out: IO[str] | None = None) -> dict[str, Any] | None:
    """Print a JSON progress stream as docker does without a terminal; raises on errors."""
    out = out or sys.stdout
    last_aux = None
    for m in messages:
        if m.get("errorDetail") or m.get("error"):
            raise StreamError((m.get("errorDetail") or {}).get("message") or m.get("error"))
        if "aux" in m:
            last_aux = m["aux"]
            continue
        if m.get("stream"):
            out.write(m["stream"])
            continue
        status = m.get("status")
        if not status:
            continue
        if m.get("progressDetail") and status in ("Downloading", "Extracting", "Pushing"):
            continue  # progress bars are for terminals
        out.write(f"{m['id']}: {status}\n" if m.get("id") else f"{status}\n")
        out.flush()
    return last_aux


def _split_tag(name: str) -> tuple[str, str | None]:
    if "@" in name:
        repo, _, digest = name.partition("@")
        return repo, digest
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, None


def _full_name(repo: str, tag: str | None) -> str:
    first, sep, _ = repo.partition("/")
    if not (sep and ("." in first or ":" in first or first == "localhost")):
        repo = f"docker.io/{repo}" if sep else f"docker.io/library/{repo}"
    return f"{repo}@{tag}" if tag and tag.startswith("sha256:") else f"{repo}:{tag or 'latest'}"


def pull_with_progress(
    client: APIClient,
    name: str,
    platform: str | None = None,
    quiet: bool = False,
    out: IO[str] | None = None,
) -> None:
    repo, tag = _split_tag(name)
    out = out or sys.stdout
    if tag is None and not quiet:
        out.write("Using default tag: latest\n")
    messages = client.images.pull(repo, tag or "latest", platform, auth_header(repo))
    if quiet:
        for m in messages:
            if m.get("errorDetail") or m.get("error"):
                raise StreamError((m.get("errorDetail") or {}).get("message") or m["error"])
    else:
        show_progress(messages, out)
    out.write(_full_name(repo, tag) + "\n")


def cmd_pull(client: APIClient, args: argparse.Namespace) -> int:
    pull_with_progress(client, args.name, args.platform, args.quiet)
    return 0


def cmd_push(client: APIClient, args: argparse.Namespace) -> int:
    repo, tag = _split_tag(args.name)
    if tag is None and not args.all_tags:
        print("Using default tag: latest")
        tag = "latest"
    messages = client.images.push(repo, tag, auth_header(repo))
    if args.quiet:
        for m in messages:
            if m.get("errorDetail") or m.get("error"):
                raise StreamError((m.get("errorDetail") or {}).get("message") or m["error"])
        print(args.name)
    else:
        show_progress(messages)
    return 0


# ----------------------------------------------------------------------------- listing


def image_rows(
    images: list[dict[str, Any]], no_trunc: bool, digests: bool, repository: str | None
) -> list[dict[str, Any]]:
    rows = []
    for img in sorted(images, key=lambda i: -int(i.get("Created") or 0)):
        iid = img["Id"] if no_trunc else img["Id"].removeprefix("sha256:")[:12]
        created = int(img.get("Created") or 0)
        base = {
            "ID": iid,
            "CreatedSince": fmt.time_ago(created),
            "CreatedAt": fmt.time_ago(created),
            "Size": fmt.human_size(img.get("Size", 0), 3),
            "Containers": str(img.get("Containers", "N/A")),
            "Labels": img.get("Labels") or {},
        }
        tags = img.get("RepoTags") or []
        repo_digests = img.get("RepoDigests") or []
        digest_of = {d.split("@")[0]: d.split("@")[1] for d in repo_digests if "@" in d}
        if not tags:
            repos = [d.split("@")[0] for d in repo_digests] or ["<none>"]
            for r in repos:
                rows.append(
                    {**base, "Repository": r, "Tag": "<none>", "Digest": digest_of.get(r, "<none>")}
                )
            continue
        for t in tags:
            r, tag = _split_tag(t)
            if repository and r != repository and t != repository:
                continue
            rows.append(
                {
                    **base,
                    "Repository": r,
                    "Tag": tag or "<none>",
                    "Digest": digest_of.get(r, "<none>"),
                }
            )
    return rows


def cmd_images(client: APIClient, args: argparse.Namespace) -> int:
    filters = parse_filter_args(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    images = client.images.list(all=args.all, filters=filters, digests=args.digests)
    if args.quiet:
        seen: dict[str, None] = {}
        for img in sorted(images, key=lambda i: -int(i.get("Created") or 0)):
            seen[img["Id"] if args.no_trunc else img["Id"].removeprefix("sha256:")[:12]] = None
        sys.stdout.write("".join(f"{i}\n" for i in seen))
        return 0
    rows = image_rows(images, args.no_trunc, args.digests, None)
    table = IMAGE_TABLE
    if args.digests:
        table = (
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        )
    sys.stdout.write(fmt.render_rows(rows, args.format, table, IMAGE_HEADERS))
    return 0


def cmd_image_inspect(client: APIClient, args: argparse.Namespace) -> int:
    return inspect_objects(args.images, client.images.inspect, args.format)


def cmd_history(client: APIClient, args: argparse.Namespace) -> int:
    hist = client.images.history(args.image)
    if args.quiet:
        for h in hist:
            hid = h["Id"]
            print(hid if args.no_trunc or hid == "<missing>" else hid.removeprefix("sha256:")[:12])
        return 0
    rows = []
    for h in hist:
        hid = h["Id"]
        created_by = (h.get("CreatedBy") or "").replace("\t", " ")
        if not args.no_trunc:
            created_by = created_by if len(created_by) <= 45 else created_by[:44] + "…"
        rows.append(
            {
                "ID": hid
                if args.no_trunc or hid == "<missing>"
                else hid.removeprefix("sha256:")[:12],
                "CreatedSince": fmt.time_ago(h.get("Created", 0))
                if args.human
                else str(h.get("Created", 0)),
                "CreatedBy": created_by,
                "Size": fmt.human_size(h.get("Size", 0), 3)
                if args.human
                else str(h.get("Size", 0)),
                "Comment": h.get("Comment", ""),
            }
        )
    headers = {
        "ID": "IMAGE",
        "CreatedSince": "CREATED",
        "CreatedBy": "CREATED BY",
        "Size": "SIZE",
        "Comment": "COMMENT",
    }
    sys.stdout.write(
        fmt.render_rows(
            rows,
            args.format,
            "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
            headers,
        )
    )
    return 0


# ----------------------------------------------------------------------------- tag, rmi, prune


def cmd_tag(client: APIClient, args: argparse.Namespace) -> int:
    repo, tag = _split_tag(args.target)
    client.images.tag(args.source, repo, tag)
    return 0


def cmd_rmi(client: APIClient, args: argparse.Namespace) -> int:
    status = 0
    for name in args.images:
        try:
            for rec in client.images.remove(name, args.force, args.no_prune) or []:
                for k in ("Untagged", "Deleted"):
                    if k in rec:
                        print(f"{k}: {rec[k]}")
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            status = 1
    return status


def cmd_image_prune(client: APIClient, args: argparse.Namespace) -> int:
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if args.all
        else "WARNING! This will remove all dangling images."
    )
    if not args.force and not confirm(warning):
        return 0
    filters = parse_filter_args(args.filter)
    filters["dangling"] = ["false" if args.all else "true"]
    report = client.images.prune(filters)
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        print("Deleted Images:")
        for rec in deleted:
            for k, v in rec.items():
                print(f"{k.lower()}: {v}")
        print()
    print(f"Total reclaimed space: {fmt.human_size(report.get('SpaceReclaimed', 0))}")
    return 0


# ----------------------------------------------------------------------------- save, load, import


def cmd_save(client: APIClient, args: argparse.Namespace) -> int:
    return write_stream(lambda: client.images.save(args.images), args.output)


def cmd_load(client: APIClient, args: argparse.Namespace) -> int:
    src = open(args.input, "rb") if args.input else sys.stdin.buffer  # noqa: SIM115
    try:
        show_progress(client.images.load(src, args.quiet))
    finally:
        if args.input:
            src.close()
    return 0


def cmd_import(client: APIClient, args: argparse.Namespace) -> int:
    repo = tag = None
    if args.repository:
        repo, tag = _split_tag(args.repository)
    if args.source == "-":
        source: Any = sys.stdin.buffer
    elif args.source.startswith(("http://", "https://")):
        source = args.source
    else:
        source = open(args.source, "rb")  # noqa: SIM115
    try:
        for m in client.images.import_(source, repo, tag, args.change, args.message, args.platform):
            if m.get("errorDetail") or m.get("error"):
                raise StreamError((m.get("errorDetail") or {}).get("message") or m["error"])
            if m.get("status"):
                print(m["status"])
    finally:
        if hasattr(source, "close") and source is not sys.stdin.buffer:
            source.close()
    return 0
