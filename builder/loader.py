"""The safe YAML loader: one YAML document in, plain Python data plus positions out.

Why not `yaml.safe_load`: it forgets where each value came from, and every later error
must print `FILE:LINE:COL`. So we compose PyYAML's node graph (safe parser, SafeLoader
resolver), check it (tags, size after alias expansion, recursion, nesting depth), then
build plain dicts and lists ourselves, recording the 1-based position of every value and
every mapping key by its path from the root, e.g. `("layers", 1, "Conv2D", "filters")`.

Decisions:
- YAML 1.1 scalars exactly as PyYAML's SafeLoader resolves them: `yes`/`no`/`on`/`off`
  are booleans, `0x1F` and `1_000` are integers, `.inf`/`.nan` floats. One addition:
  `1e-3` (an exponent without a dot) is a float as in YAML 1.2 and JSON, not a string.
- Plain scalars that look like dates (`2001-12-14`) stay strings: a model config has no
  use for datetimes. An explicit `!!timestamp` tag is refused like every other tag that
  is not str/int/float/bool/null/map/seq. Nothing is ever imported or executed.
- Mapping keys are kept as PyYAML reads them (`1: x` gives an int key, `yes: x` a bool
  key; the schema layer complains); null, float and non-scalar keys are refused here.
- Merge keys (`<<: *base`, `<<: [*a, *b]`) follow YAML: explicit keys win, earlier
  sources in a list win over later ones; merged entries appear where `<<` stands.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, NoReturn, cast

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, StreamEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from builder.errors import ConfigError, Problem
from builder.sizes import format_bytes

try:  # libyaml's parser is several times faster; both produce the same events.
    from yaml import CSafeLoader as _EventSource
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _EventSource  # type: ignore[assignment]

MAX_FILE_BYTES = 1024 * 1024  # 1 MiB
MAX_NODES = 100_000  # after alias expansion

# Real configs nest fewer than ten levels; the cap keeps every recursive walk (ours and
# PyYAML's composer) far from Python's recursion limit.
_MAX_DEPTH = 100

_TOO_MANY_NODES = f"document too large after alias expansion (more than {MAX_NODES:,} nodes)"
# Met while composing, before any alias is expanded: the text itself is that large.
_TOO_LARGE = (
    f"the config is too large: more than {MAX_NODES:,} YAML values (layers, keys and "
    "values all count); split the model or describe repeated blocks more compactly"
)
_TOO_DEEP = f"the config is nested too deeply (more than {_MAX_DEPTH} levels)"

_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_STR = _YAML_TAG_PREFIX + "str"
_INT = _YAML_TAG_PREFIX + "int"
_FLOAT = _YAML_TAG_PREFIX + "float"
_BOOL = _YAML_TAG_PREFIX + "bool"
_NULL = _YAML_TAG_PREFIX + "null"
_MAP = _YAML_TAG_PREFIX + "map"
_SEQ = _YAML_TAG_PREFIX + "seq"
_MERGE = _YAML_TAG_PREFIX + "merge"
_TIMESTAMP = _YAML_TAG_PREFIX + "timestamp"
_VALUE = _YAML_TAG_PREFIX + "value"

# The scalar builders are stateless methods of SafeConstructor; one instance serves all.
_SAFE = SafeConstructor()
_SCALAR_BUILDERS = {
    _STR: _SAFE.construct_yaml_str,
    _INT: _SAFE.construct_yaml_int,
    _FLOAT: _SAFE.construct_yaml_float,
    _BOOL: _SAFE.construct_yaml_bool,
    _NULL: _SAFE.construct_yaml_null,
}
_SCALAR_TAGS = frozenset({*_SCALAR_BUILDERS, _MERGE})
_KNOWN_TAGS = _SCALAR_TAGS | {_MAP, _SEQ}


@dataclass(frozen=True)
class Mark:
    """A position in the config file, 1-based like compiler messages."""

    line: int
    col: int


KeyPath = tuple[str | int, ...]  # keys and list indices from the document root


@dataclass
class Document:
    """A loaded config: plain data plus where every value (and mapping key) was written."""

    filename: str
    data: Any
    values: dict[KeyPath, Mark]
    keys: dict[KeyPath, Mark]

    def mark(self, path: KeyPath) -> Mark | None:
        """Position of the value at `path`, else of its closest existing ancestor.

        A schema error about a missing key can then point at the mapping that lacks it.
        """
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return None


# --------------------------------------------------------------------------- reading


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a config file as UTF-8 text, refusing files over MAX_FILE_BYTES.

    Never reads more than MAX_FILE_BYTES + 1 bytes, so a huge file (or an endless pipe)
    costs nothing. Every failure is a ConfigError naming the file.
    """
    filename = os.fsdecode(path)
    return _decode_utf8(_read_bytes(path, filename), filename)


def _read_bytes(path: str | os.PathLike[str], filename: str) -> bytes:
    """The file's bytes; a ConfigError for missing, unreadable or oversized files."""
    if os.path.isdir(path):
        _fail(filename, None, "is a directory, not a config file")
    try:
        with open(path, "rb") as handle:
            _check_size(os.fstat(handle.fileno()).st_size, filename)
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        _fail(filename, None, "no such file")
    except PermissionError:
        _fail(filename, None, "permission denied: cannot read the file")
    except OSError as exc:
        _fail(filename, None, f"cannot read the file: {exc.strerror or exc}")
    _check_size(len(data), filename)  # st_size is 0 for pipes and some special files
    return data


def _check_size(size: int, filename: str) -> None:
    """Refuse more than MAX_FILE_BYTES: a config is small, a huge file is a mistake."""
    if size > MAX_FILE_BYTES:
        _fail(
            filename,
            None,
            f"file is too large ({size:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes = "
            f"{format_bytes(MAX_FILE_BYTES)})",
        )


def _decode_utf8(data: bytes, filename: str) -> str:
    """Decode UTF-8 strictly; the error points at the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
        message = f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})"
        raise ConfigError([Problem(filename, line, col, "", message)]) from None


# --------------------------------------------------------------------------- loading


def load_document(text: str, filename: str = "<string>") -> Document:
    """Parse exactly one YAML document safely into plain data with positions.

    Raises ConfigError (never a yaml error or RecursionError) for syntax errors, unsafe
    or unknown tags, duplicate keys, recursive aliases, documents over MAX_NODES nodes
    after alias expansion, nesting beyond 100 levels, an empty file or a non-mapping root.
    """
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark is not part of the config
        text = text[1:]
    _check_text(text, filename)
    try:
        root = _check_root(_compose(text, filename), filename)
        _check_expansion(root, filename)
        return _Builder(filename).document(root)
    except RecursionError:  # a last resort: the depth checks should prevent it
        _fail(filename, None, _TOO_DEEP)


def _check_text(text: str, filename: str) -> None:
    """Refuse text that no file could hold: over the size limit, or lone surrogates."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        line, col = _line_col(text, exc.start)
        message = f"invalid character U+{ord(text[exc.start]):04X} (a lone surrogate)"
        raise ConfigError([Problem(filename, line, col, "", message)]) from None
    _check_size(size, filename)


def _compose(text: str, filename: str) -> Node | None:
    """The node graph of the single document, or None when there is no document."""
    composer = None
    try:
        composer = _Composer(text)
        return composer.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, text, filename)]) from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError([_reader_problem(exc, text, filename)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises the two above
        _fail(filename, None, f"invalid YAML: {exc}")
    finally:
        if composer is not None:
            composer.dispose()


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_FLOAT = "tag:yaml.org,2002:float"


class _Composer(Composer, Resolver):
    """PyYAML's composer and SafeLoader resolver, fed by the safe parser's events.

    Why not `CSafeLoader.get_single_node()`: libyaml's composer recurses in C and kills
    the interpreter on ~100,000 nested `[`. Composing in Python lets us stop at
    _MAX_DEPTH with a clear error. Behaviour is otherwise SafeLoader's.
    """

    def __init__(self, text: str) -> None:
        Composer.__init__(self)
        Resolver.__init__(self)
        self._events = _EventSource(text)
        self._depth = 0
        self._count = 0

    def check_event(self, *choices: type) -> bool:
        return self._events.check_event(*choices)

    def peek_event(self) -> Any:
        return self._events.peek_event()

    def get_event(self) -> Any:
        return self._events.get_event()

    def dispose(self) -> None:
        self._events.dispose()

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        """SafeLoader's implicit tags, but date-like and `=` plain scalars stay strings, and
        a plain exponent without a dot (`1e-3`, YAML 1.2 and JSON) is a float, as users expect."""
        tag = super().resolve(kind, value, implicit)
        if tag == _STR and implicit and implicit[0] and _EXPONENT_FLOAT.match(value or ""):
            return _FLOAT
        return _STR if tag in (_TIMESTAMP, _VALUE) else tag

    def get_single_node(self) -> Node | None:
        """The one document's root node; a second document is an error."""
        self.get_event()  # STREAM-START
        if self.check_event(StreamEndEvent):
            return None
        root = self.compose_document()
        if root is not None and not self.check_event(StreamEndEvent):
            first = root.start_mark.line + 1
            raise ComposerError(
                None,
                None,
                f"a config holds a single YAML document, found another one "
                f"(the first starts on line {first})",
                self.get_event().start_mark,
            )
        return root

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """Compose one node, refusing deep nesting and re-used anchor names."""
        event = self.peek_event()
        if self._depth >= _MAX_DEPTH:
            raise ComposerError(None, None, _TOO_DEEP, event.start_mark)
        if isinstance(event, AliasEvent):
            return self._composed(parent, index)
        self._count += 1
        if self._count > MAX_NODES:  # stop early: the expanded count can only be larger
            raise ComposerError(None, None, _TOO_LARGE, event.start_mark)
        if event.anchor in self.anchors:
            first = self.anchors[event.anchor].start_mark.line + 1
            message = f"duplicate anchor '{event.anchor}' (first defined on line {first})"
            raise ComposerError(None, None, message, event.start_mark)
        self._depth += 1
        try:
            return self._composed(parent, index)
        finally:
            self._depth -= 1

    def _composed(self, parent: Node | None, index: Any) -> Node:
        node = super().compose_node(parent, index)  # None only at a stream's end
        if node is None:
            raise ComposerError(None, None, "unexpected end of the document", None)
        return node


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, filename: str) -> Problem:
    """One Problem at PyYAML's problem mark, with its own wording of the problem."""
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "invalid YAML"
    if "maximum nesting depth" in message:  # PyYAML >= 6.0.4's own limit, met before ours
        message = _TOO_DEEP
    if mark is not None and _char_at(text, mark) == "\t" and "cannot start any token" in message:
        # libyaml omits the character; a tab is the usual culprit and worth naming.
        message = "found character '\\t' that cannot start any token (indent with spaces)"
    context = exc.context_mark
    if exc.context and context is not None and mark is not None and context.line != mark.line:
        message += f" ({exc.context} on line {context.line + 1}, column {context.column + 1})"
    line, col = (None, None) if mark is None else _inside_text(text, mark.line + 1, mark.column + 1)
    return Problem(filename, line, col, "", message)


def _inside_text(text: str, line: int, col: int) -> tuple[int, int]:
    """Clamp an end-of-input position to just after the last character of the last line
    (PyYAML places it on a line past the end when the file lacks a final newline)."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if not lines or line <= len(lines):
        return line, col
    return len(lines), len(lines[-1]) + 1


def _reader_problem(exc: yaml.reader.ReaderError, text: str, filename: str) -> Problem:
    """A forbidden character (e.g. a control character) at its position."""
    character = exc.character if isinstance(exc.character, int) else ord(exc.character)
    # The reader stops at the first bad character, so its first occurrence is the one.
    index = text.find(chr(character))
    line, col = _line_col(text, index) if index >= 0 else (None, None)
    message = f"invalid character U+{character:04X} ({exc.reason})"
    return Problem(filename, line, col, "", message)


def _check_root(root: Node | None, filename: str) -> MappingNode:
    """The document must exist and be a mapping (`name: ...`, `layers: ...`)."""
    if root is None or (root.tag == _NULL and root.value == ""):
        _fail(filename, None, "empty config file")
    if not isinstance(root, MappingNode):
        message = f"the config must be a mapping (key: value), got {_describe(root)}"
        _fail(filename, root.start_mark, message)
    return root


def _check_expansion(root: Node, filename: str) -> None:
    """Refuse recursive aliases, and documents too big or too deep once aliases expand.

    Each node's expanded size and height are computed once (memoised by id), so a
    billion-laughs document costs one pass over its few composed nodes. Iterative, so
    a long chain of aliases cannot exhaust Python's stack.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    entered: set[int] = set()  # nodes on the current path: meeting one again is a cycle
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            kids = _children(node)
            size[id(node)] = 1 + sum(size[id(kid)] for kid in kids)
            height[id(node)] = 1 + max((height[id(kid)] for kid in kids), default=0)
            entered.discard(id(node))
            _check_measures(node, size[id(node)], height[id(node)], filename)
        elif id(node) in entered:
            _fail(filename, node.start_mark, "recursive alias: a node contains itself")
        elif id(node) not in size:
            entered.add(id(node))
            stack.append((node, True))
            stack.extend((kid, False) for kid in _children(node))


def _check_measures(node: Node, size: int, height: int, filename: str) -> None:
    """Every node is inside the root, so one over-limit node condemns the document."""
    if size > MAX_NODES:
        _fail(filename, None, _TOO_MANY_NODES)
    if height > _MAX_DEPTH:
        _fail(filename, node.start_mark, _TOO_DEEP)


def _children(node: Node) -> list[Node]:
    """Direct child nodes: list items, or mapping keys and values."""
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


# --------------------------------------------------------------------------- building

_Entry = tuple[Hashable, Node, Node]  # (key, key node, value node) of a mapping
_INVALID = object()  # a key that was reported as a problem and is skipped


class _Builder:
    """Builds plain data from a checked node graph, recording positions by path.

    Problems (bad tags, duplicate keys, ...) are collected rather than raised at once,
    so the user sees all of them in one run.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.values: dict[KeyPath, Mark] = {}
        self.keys: dict[KeyPath, Mark] = {}
        self.problems: list[Problem] = []

    def document(self, root: Node) -> Document:
        """The Document for `root`, or a ConfigError listing every problem found."""
        data = self.build(root, ())
        if self.problems:
            unique = list(dict.fromkeys(self.problems))  # merged blocks may repeat one
            unique.sort(key=lambda p: (p.line or 0, p.col or 0))
            raise ConfigError(unique)
        return Document(self.filename, data, self.values, self.keys)

    def build(self, node: Node, path: KeyPath) -> Any:
        """Plain Python value of `node`, which sits at `path`."""
        self.values[path] = _mark(node)
        if not self._tag_ok(node):
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            return [self.build(item, path + (index,)) for index, item in enumerate(node.value)]
        return self._mapping(cast(MappingNode, node), path)

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, key_node, value_node in self._entries(node):
            child: KeyPath = path + (key,)  # type: ignore[operator]
            self.keys[child] = _mark(key_node)
            result[key] = self.build(value_node, child)
        return result

    def _entries(self, node: MappingNode) -> list[_Entry]:
        """The mapping's entries with merge keys resolved, in document order.

        Explicit keys win over merged ones wherever they stand; a key written twice
        explicitly is an error naming both lines.
        """
        explicit: dict[Hashable, Node] = {}
        parts: list[_Entry | list[_Entry]] = []  # an entry, or the entries of one `<<`
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                parts.append(self._merged(value_node))
                continue
            key = self._key(key_node)
            if key is _INVALID:
                continue
            if key in explicit:
                first = explicit[key].start_mark.line + 1
                message = f"duplicate key '{key_node.value}' (first defined on line {first})"
                self._problem(key_node, message)
                continue
            explicit[key] = key_node
            parts.append((key, key_node, value_node))
        return _flatten(parts, set(explicit))

    def _merged(self, value: Node) -> list[_Entry]:
        """Entries a merge key brings in: one mapping, or a list of them (first wins)."""
        sources = [value]
        if isinstance(value, SequenceNode):
            sources = value.value if self._tag_ok(value) else []
        entries: list[_Entry] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                needs = "a merge key '<<' needs a mapping or a list of mappings"
                self._problem(source, f"{needs}, got {_describe(source)}")
            elif self._tag_ok(source):
                entries.extend(self._entries(source))
        return entries

    def _key(self, node: Node) -> Any:
        """The key's plain value, or _INVALID after reporting why it cannot be a key."""
        if not isinstance(node, ScalarNode):
            self._problem(node, f"a mapping key must be a string, got {_describe(node)}")
            return _INVALID
        if not self._tag_ok(node):
            return _INVALID
        key = self._scalar(node)
        if key is None or isinstance(key, float):
            shown = "" if key is None else f" {node.value}"
            self._problem(node, f"a mapping key must be a string, got {_describe(node)}{shown}")
            return _INVALID
        return key

    def _scalar(self, node: ScalarNode) -> Any:
        """str, int, float, bool or None, as PyYAML's safe constructor builds them."""
        if node.tag == _MERGE:  # `<<` outside a key position is just text
            return node.value
        try:
            return _SCALAR_BUILDERS[node.tag](node)
        except (ValueError, KeyError, IndexError, TypeError, OverflowError):
            shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            self._problem(node, f"cannot read {shown!r} as {_describe(node)}")
            return None

    def _tag_ok(self, node: Node) -> bool:
        """Only the plain YAML types are allowed; anything else is reported, never built."""
        tag = node.tag
        if tag in _allowed_tags(node):
            return True
        if tag in _KNOWN_TAGS:
            message = f"YAML tag '{_display_tag(tag)}' cannot be used on {_describe_kind(node)}"
        else:
            message = f"unsupported YAML tag '{_display_tag(tag)}'"
        self._problem(node, message)
        return False

    def _problem(self, node: Node, message: str) -> None:
        mark = _mark(node)
        self.problems.append(Problem(self.filename, mark.line, mark.col, "", message))


def _flatten(parts: list[_Entry | list[_Entry]], taken: set[Hashable]) -> list[_Entry]:
    """Splice merged entries in place of their `<<`, skipping keys already taken."""
    entries: list[_Entry] = []
    for part in parts:
        if isinstance(part, tuple):
            entries.append(part)
            continue
        for entry in part:
            if entry[0] not in taken:
                taken.add(entry[0])
                entries.append(entry)
    return entries


def _allowed_tags(node: Node) -> frozenset[str]:
    """The tags that may appear on this kind of node."""
    if isinstance(node, ScalarNode):
        return _SCALAR_TAGS
    return frozenset({_SEQ} if isinstance(node, SequenceNode) else {_MAP})


# --------------------------------------------------------------------------- helpers


def _mark(node: Node) -> Mark:
    """PyYAML marks are 0-based; ours are 1-based."""
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _fail(filename: str, mark: yaml.Mark | None, message: str) -> NoReturn:
    """Raise a one-problem ConfigError for the whole file (no `where`)."""
    line, col = (None, None) if mark is None else (mark.line + 1, mark.column + 1)
    raise ConfigError([Problem(filename, line, col, "", message)])


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character `index` in `text`."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _char_at(text: str, mark: yaml.Mark) -> str:
    lines = text.split("\n")
    if mark.line < len(lines) and mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return ""


def _display_tag(tag: str) -> str:
    """`tag:yaml.org,2002:binary` -> `!!binary`, as the user wrote it."""
    return "!!" + tag[len(_YAML_TAG_PREFIX) :] if tag.startswith(_YAML_TAG_PREFIX) else tag


def _describe_kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    return "a list" if isinstance(node, SequenceNode) else "a scalar"


_SCALAR_NAMES = {_INT: "an integer", _FLOAT: "a number", _BOOL: "a boolean", _NULL: "null"}


def _describe(node: Node) -> str:
    """What the user wrote, in words: `a list`, `a string`, `null`, ..."""
    if isinstance(node, ScalarNode):
        return _SCALAR_NAMES.get(node.tag, "a string")
    return _describe_kind(node)
