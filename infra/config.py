"""Loading the pipeline configuration file with errors that point at the bad line.

A configuration file may be anything a user names, so parsing is bounded and errors
quote no file content (a secrets file named by mistake must not end up in a log):

- YAML aliases: at most MAX_ALIASES, and together they may add at most MAX_ALIAS_NODES
  nodes to the document (a 9-level "billion laughs" bomb is 81 aliases but 387 million
  nodes); a recursive alias (`&a [*a]`) is refused;
- nesting: at most MAX_DEPTH levels, YAML or JSON (`[` x 100000 would end in a
  RecursionError);
- errors name the line and column and the parser's complaint, never the line itself
  (PyYAML's own message quotes it); quoted text of more than 3 characters in the
  complaint becomes '…'; validation errors name the field (a key that is not a name
  of up to 64 letters, digits, `_` and `-` by its length only), at most MAX_ERRORS.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from vigil.infra.safe_read import CONFIG_LIMIT, read_limited
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.errors import ErrorCode, VigilError

MAX_DEPTH = 32  # a configuration nests 5 levels (outputs.alerts.webhook.url)
MAX_ALIASES = 1000  # `<<: *defaults` once per camera is fine
MAX_ALIAS_NODES = 100_000  # nodes that aliases may add to the document, all together
MAX_ERRORS = 20
KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")  # every field name, and typos of one
QUOTED = re.compile(r"'[^'\n]{4,}'|\"[^\"\n]{4,}\"")


class _Refused(Exception):
    """The document is over a budget: (message, line) where it was noticed."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and nesting while composing, before anything is built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                line = self.peek_event().start_mark.line + 1
                raise _Refused(f"more than {MAX_ALIASES} YAML aliases", line)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root: yaml.Node) -> int:
    """Nodes of the document once every alias is resolved; _Refused for a recursive alias.

    Iterative, memoised per node (aliases share their node), so it costs the raw size.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _Refused("a recursive YAML alias (a node that contains itself)", _line(node))
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise _Refused("a recursive YAML alias (a node that contains itself)", _line(child))
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _raw_size(root: yaml.Node) -> int:
    """Nodes as written: each node counted once however often it is aliased."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(_children(node))
    return len(seen)


def _line(node: yaml.Node) -> int | None:
    return node.start_mark.line + 1 if node.start_mark is not None else None


def _load_yaml(text: str) -> object:
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        added = _expanded_size(node) - _raw_size(node)
        if added > MAX_ALIAS_NODES:
            raise _Refused(
                f"YAML aliases expand the document by {added} nodes (at most {MAX_ALIAS_NODES})",
                None,
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _depth_over(data: object, limit: int) -> bool:
    """True when `data` nests deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return False


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's complaint and where, without the snippet of the file it would print."""
    if isinstance(exc, yaml.MarkedYAMLError):
        where = exc.problem_mark or exc.context_mark
        said = "; ".join(part for part in (exc.context, exc.problem) if part)
        said = QUOTED.sub("'…'", said) or "not valid YAML"
        if where is not None:
            return f"line {where.line + 1}, column {where.column + 1}: {said}"
        return said
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character {exc.position}: not text YAML can read"
    return type(exc).__name__


def _shown(part: str | int) -> str:
    """A field path part: a key that reads as a name, else its length only (a line of
    /etc/shadow parses as a YAML key, and must not come back as one)."""
    if isinstance(part, int) or KEY_NAME.fullmatch(part):
        return str(part)
    return f"<a key of {len(part)} characters>"


def describe_errors(exc: ValidationError) -> str:
    lines = []
    errors = exc.errors()
    for error in errors[:MAX_ERRORS]:
        where = ".".join(_shown(part) for part in error["loc"])
        lines.append(f"  {where}: {error['msg'][:200]}")
    if len(errors) > MAX_ERRORS:
        lines.append(f"  ... and {len(errors) - MAX_ERRORS} more")
    return "\n".join(lines)


def _refuse(origin: str, message: str) -> VigilError:
    return VigilError(ErrorCode.INVALID_OPTIONS, f"{origin}: {message}")


def parse_config(text: str, origin: str = "<config>") -> PipelineConfig:
    try:
        if text.lstrip().startswith("{"):
            data = json.loads(text)
            if _depth_over(data, MAX_DEPTH):
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", None)
        else:
            data = _load_yaml(text)
    except json.JSONDecodeError as exc:  # its message names line and column, no content
        raise _refuse(origin, f"not valid YAML/JSON: {exc}") from None
    except yaml.YAMLError as exc:
        raise _refuse(origin, f"not valid YAML/JSON: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise _refuse(origin, f"nested deeper than {MAX_DEPTH} levels") from None
    except _Refused as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        raise _refuse(origin, f"refused: {where}{exc}") from None
    if not isinstance(data, dict):
        raise _refuse(origin, "expected a mapping with 'cameras'")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise _refuse(origin, f"invalid configuration:\n{describe_errors(exc)}") from None
    except RecursionError:
        raise _refuse(origin, f"nested deeper than {MAX_DEPTH} levels") from None


def load_config(path: str | Path) -> PipelineConfig:
    """Read a configuration file: a regular file of at most CONFIG_LIMIT bytes, UTF-8."""
    path = Path(path)
    data = read_limited(path, CONFIG_LIMIT, what="configuration file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"{path}: not UTF-8 text (byte {exc.start})"
        ) from None
    return parse_config(text, str(path))


def single_camera_config(url: str, camera_id: str = "cam-1", **camera: object) -> PipelineConfig:
    """A one-camera configuration for `vigil run --source URL` and the demo."""
    return PipelineConfig.model_validate({"cameras": [{"id": camera_id, "url": url, **camera}]})
