"""`vigil group ...` (feature groups and members) and `vigil search` (k:N search).

The store is `--store URI` (before the sub-command), else VIGIL_GROUPS_URI, else
./vigil-groups.db: a Milvus Lite file, or http://host:port for a Milvus server.
Tables for people, `--json` for machines. Exit status: 0 done, 1 refused (the
error and its code are printed; as JSON with --json), 2 wrong options.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.cli.options import print_outcome, query_face_arguments, query_face_options
from vigil.schemas.errors import ErrorCode, VigilError

if TYPE_CHECKING:
    from vigil.groups.service import GroupService
    from vigil.schemas.feature import Feature

Action = Callable[["GroupService", argparse.Namespace], Any]


def common_options() -> argparse.ArgumentParser:
    """--store and --json, accepted by every action (after its name)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store",
        metavar="URI",
        help="Milvus Lite file or http://host:port (default: $VIGIL_GROUPS_URI or"
        " ./vigil-groups.db)",
    )
    common.add_argument("--json", action="store_true", help="print JSON for machines")
    return common


def register(commands: argparse._SubParsersAction) -> None:
    register_group(commands)
    register_search(commands)


def register_group(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "group",
        help="feature groups and their members: create, list, show, rename, delete, add, ...",
        description="Manage feature groups and their members (people with one or more faces).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    common = common_options()

    def action(name: str, run: Action, help: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(run=main, action=run)
        return sub

    create = action("create", do_create, "create an empty group")
    create.add_argument("name")
    create.add_argument("--description", default="")
    meta_option(create)
    action("list", do_list, "list the groups")
    show = action("show", do_show, "show a group, or one member with PERSON_ID")
    show.add_argument("name")
    show.add_argument("person_id", nargs="?")
    rename = action("rename", do_rename, "rename a group")
    rename.add_argument("name")
    rename.add_argument("new_name")
    delete = action("delete", do_delete, "delete a group and all its members")
    delete.add_argument("name")
    add = action("add", do_add, "enrol a person (or add photos): the largest face of each picture")
    add.add_argument("group")
    add.add_argument("person_id")
    add.add_argument("images", nargs="*", type=Path, help="pictures of the person")
    add.add_argument(
        "--feature", action="append", type=Path, default=[], metavar="FILE", help="Feature JSON"
    )
    meta_option(add, "member metadata (replaces the member's when given)")
    members = action("members", do_members, "list a group's members, ordered by person id")
    members.add_argument("group")
    members.add_argument("--offset", type=int, default=0)
    members.add_argument("--limit", type=int, default=100)
    update = action("update", do_update, "replace a member's metadata")
    update.add_argument("group")
    update.add_argument("person_id")
    meta_option(update)
    remove = action("remove", do_remove, "remove a member and all its features")
    remove.add_argument("group")
    remove.add_argument("person_id")


def register_search(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "search",
        parents=[common_options()],
        help="k:N search of a picture's faces or a feature over groups",
        description="Search the largest face of IMAGE (or every face, --all-faces), or a"
        " Feature JSON file, over one or several groups; 'unknown' when no member passes"
        " the threshold of the false-accept rate --far.",
    )
    parser.add_argument("image", nargs="?", type=Path, help="picture to search")
    parser.add_argument(
        "--feature", type=Path, metavar="FILE", help="Feature JSON file instead of a picture"
    )
    parser.add_argument("--group", action="append", required=True, help="group (repeatable)")
    parser.add_argument("--k", type=int, default=10, help="members to return, 1-1000")
    parser.add_argument("--far", type=float, default=1e-3, help="false-accept rate (1e-3)")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata filter (repeatable: keys must all match, a key twice means either value)",
    )
    parser.add_argument("--all-faces", action="store_true", help="search every face")
    query_face_arguments(parser, ("--face", "the face to search (not with --all-faces)"))
    parser.add_argument(
        "--target",
        default="balanced",
        help="recall in large groups: fast, balanced (default) or exact (slowest)",
    )
    parser.set_defaults(run=main, action=do_search)


def meta_option(parser: argparse.ArgumentParser, help: str = "metadata") -> None:
    parser.add_argument(
        "--meta", action="append", default=[], metavar="KEY=VALUE", help=f"{help} (repeatable)"
    )


def main(args: argparse.Namespace) -> int:
    from vigil.groups.service import GroupService

    def compute() -> Any:
        if args.action in READS and store_missing(args.store):
            if args.action is do_search:  # the options are checked first, store or not
                from vigil.schemas.groups import SearchQuery
                from vigil.schemas.validate import checked

                checked(SearchQuery, {"groups": args.group, "k": args.k, "far": args.far}, "search")
            return nothing_stored(args)  # a read must not create an empty store
        with GroupService(args.store) as service:
            return args.action(service, args)

    return print_outcome(compute, args.json, print_table)


def store_missing(store: str | None) -> bool:
    """True for a Milvus Lite file that does not exist (a server is never 'missing')."""
    from vigil.groups.service import default_uri

    uri = store or default_uri()
    return not uri.startswith(("http://", "https://", "tcp://", "unix:")) and not Path(uri).exists()


def nothing_stored(args: argparse.Namespace) -> Any:
    """What a read action answers on a store that was never created."""
    if args.action is do_list:
        return []
    name = args.group[0] if args.action is do_search else getattr(args, "group", None) or args.name
    uri = args.store or "the default store (./vigil-groups.db or $VIGIL_GROUPS_URI)"
    raise VigilError(ErrorCode.GROUP_NOT_FOUND, f"no group {name!r}: {uri} holds no groups yet")


# -- actions ------------------------------------------------------------------------------
# (READS, the actions that only read, is defined after them)


def metadata(pairs: list[str]) -> dict[str, Any] | None:
    from vigil.groups.filters import parse_pairs

    parsed = parse_pairs(pairs)
    repeated = [key for key, values in parsed.items() if len(values) > 1]
    if repeated:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"metadata key given twice: {repeated[0]}")
    return {key: values[0] for key, values in parsed.items()} if parsed else None


def read_feature(path: Path) -> Feature:
    """A Feature JSON file: a regular file of at most FEATURE_LIMIT bytes (coded errors)."""
    from vigil.infra.safe_read import FEATURE_LIMIT, read_limited
    from vigil.schemas.feature import Feature

    data = read_limited(path, FEATURE_LIMIT, what="feature file")
    try:
        return Feature.model_validate_json(data)
    except ValueError as exc:
        raise VigilError(ErrorCode.INVALID_FEATURE, f"{path}: {exc}") from None


def do_create(service: GroupService, args: argparse.Namespace) -> Any:
    return service.create_group(args.name, args.description, metadata(args.meta))


def do_list(service: GroupService, args: argparse.Namespace) -> Any:
    return service.list_groups()


def do_show(service: GroupService, args: argparse.Namespace) -> Any:
    if args.person_id is not None:
        return service.get_member(args.name, args.person_id)
    return service.get_group(args.name)


def do_rename(service: GroupService, args: argparse.Namespace) -> Any:
    return service.rename_group(args.name, args.new_name)


def do_delete(service: GroupService, args: argparse.Namespace) -> Any:
    service.delete_group(args.name)
    return {"deleted": args.name}


def do_add(service: GroupService, args: argparse.Namespace) -> Any:
    from vigil.groups.service import picture_features

    if not args.images and not args.feature:
        raise VigilError(ErrorCode.INVALID_OPTIONS, "give pictures or --feature files")
    features, qualities = picture_features(args.images)
    sources: list[str] = [image.name for image in args.images]
    for path in args.feature:
        features.append(read_feature(path))
        sources.append(path.name)
        qualities.append(None)
    return service.add_member(
        args.group, args.person_id, features, metadata(args.meta), sources, qualities=qualities
    )


def do_members(service: GroupService, args: argparse.Namespace) -> Any:
    return service.list_members(args.group, args.offset, args.limit)


def do_update(service: GroupService, args: argparse.Namespace) -> Any:
    return service.update_member(args.group, args.person_id, metadata(args.meta) or {})


def do_remove(service: GroupService, args: argparse.Namespace) -> Any:
    service.remove_member(args.group, args.person_id)
    return {"removed": args.person_id, "group": args.group}


def do_search(service: GroupService, args: argparse.Namespace) -> Any:
    from vigil.groups.filters import parse_pairs
    from vigil.schemas.groups import SearchResponse

    if (args.image is None) == (args.feature is None):
        raise VigilError(ErrorCode.INVALID_OPTIONS, "give either IMAGE or --feature FILE")
    options = {
        "k": args.k,
        "far": args.far,
        "filter": parse_pairs(args.filter) or None,
        "target": args.target,
    }
    if args.feature is not None:
        results = [service.search(read_feature(args.feature), args.group, **options)]
    else:
        if not args.image.is_file():
            raise VigilError(ErrorCode.FILE_NOT_FOUND, f"{args.image}: no such file")
        results = service.search_image(
            args.image,
            args.group,
            all_faces=args.all_faces,
            options=query_face_options(args),
            face=args.face,
            **options,
        )
    return SearchResponse(results=results)


# -- tables -------------------------------------------------------------------------------


def print_table(output: Any) -> None:
    kind = type(output).__name__
    printer = TABLES.get(kind)
    if printer is None:
        print(", ".join(f"{key}: {value}" for key, value in output.items()))
    else:
        printer(output)


def print_groups(groups: list) -> None:
    if not groups:
        print("no groups")
    print_group_rows(groups)


def print_group_rows(groups: list) -> None:
    for group in groups:
        print(
            f"{group.name:24} {group.member_count:>8} members {group.feature_count:>9} features"
            f"  {group.model or '-':32} {group.created_at:%Y-%m-%d %H:%M}"
            + (f"  {group.description}" if group.description else "")
        )


def describe(values: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in values.items())


def print_member(member: Any) -> None:
    print(f"{member.person_id}  ({len(member.features)} features)  {describe(member.metadata)}")
    for feature in member.features:
        quality = "-" if feature.quality is None else f"{feature.quality:.2f}"
        print(f"  {feature.feature_id}  quality {quality}  {feature.source or ''}")


def print_page(page: Any) -> None:
    last = page.offset + len(page.items)
    print(f"members {page.offset + 1 if page.items else 0}-{last} of {page.total}")
    for member in page.items:
        count = len(member.features)
        print(f"  {member.person_id:32} {count:>3} features  {describe(member.metadata)}")


def print_search(response: Any) -> None:
    for number, result in enumerate(response.results, 1):
        where = f" at [{','.join(f'{v:.0f}' for v in result.box.as_list())}]" if result.box else ""
        limit = result.threshold
        head = f"face {number}{where}: {result.decision.upper()}"
        if best := result.best:
            head += f" {best.person_id} ({best.group}, similarity {best.similarity:.1f})"
        print(f"{head}  [threshold distance {limit.distance:.3f} at FAR {limit.far:g}]")
        for rank, hit in enumerate(result.hits, 1):
            print(
                f"  {rank:>3}. {hit.person_id:32} {hit.group:16} similarity {hit.similarity:6.2f}"
                f"  distance {hit.distance:.3f}  {describe(hit.metadata)}"
            )


TABLES: dict[str, Callable[[Any], None]] = {
    "list": print_groups,
    "FeatureGroup": lambda group: print_group_rows([group]),
    "Member": print_member,
    "MemberPage": print_page,
    "SearchResponse": print_search,
}


READS = frozenset({do_list, do_show, do_members, do_search})
