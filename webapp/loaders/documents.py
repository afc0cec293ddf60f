"""Bytes → located documents: plain Python data plus a way back to the 1-based line:col of any field.

Two parsing paths (issue 7):
- small YAML (under `FAST_PATH_BYTES`): PyYAML's pure-Python SafeLoader composes nodes with marks; duplicate
  keys, tags, alias expansion and depth are checked on the node tree before any value is constructed;
- big YAML: yaml-rs per document (safe: it never constructs tags; alias replay is limited), JSON: stdlib json.
  Nothing is marked while parsing; a field is located only when a problem needs it, by re-composing just the
  list item or document at fault with PyYAML.

What yaml-rs 0.1.6 does with hostile YAML (checked): `!!python/...` tags are refused ("Invalid tag"), other
tags are dropped silently and `<<` merge keys stay plain keys — so files holding either take the PyYAML path;
aliases are replayed under `AliasLimits`; duplicate keys are an error naming the key but not its place (found
by a targeted scan); deep nesting stops at its recursion limit; scalars follow YAML 1.2 (`yes` is a string).

PyYAML marks become 1-based positions in exactly one place: `_position`.
"""

from __future__ import annotations

import json
import json.scanner
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml
import yaml_rs
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from webapp.problems import Problem, Severity

MAX_BYTES = 50_000_000
"""Default size limit of one input file: as large as the web app's default upload limit (50 MB), so that a
1,000-node `kubectl get -o yaml` dump (21–35 MB) opens from the command line with no flag."""
FAST_PATH_BYTES = 256_000
"""YAML files at least this big are parsed by yaml-rs instead of PyYAML."""
MAX_DEPTH = 64
"""Deepest nesting accepted (a Kubernetes object nests about 12 levels)."""
MAX_EXPANDED_NODES = 2_000_000
"""Most nodes a document may have once its aliases are expanded (stops "billion laughs")."""
MAX_ALIAS_NODES = 200_000
"""Most nodes aliases may add to one file, all its documents together: what the loader builds and hashes stays
linear in the file's size (40 documents each just under MAX_EXPANDED_NODES took 40 s to hash)."""
MAX_BROKEN_DOCUMENTS = 20
"""After this many broken documents in one file, the rest of it is not read (a resume copies the rest)."""
# Composing is recursive in PyYAML: MAX_DEPTH stops it well before Python's recursion limit.
_MAX_RECOMPOSE_CHARS = 2_000_000
"""Biggest slice re-composed by PyYAML to locate a problem (about 2 s)."""
_YAML_RS_STACK_DEPTH = 16

Path = tuple[str | int, ...]

_CORE_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset(
    _CORE_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "value", "binary")
)


def render_path(path: Path) -> str:
    """`('spec', 'ports', 0, 'nodePort')` → `spec.ports[0].nodePort`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _position(mark: yaml.Mark, line_offset: int = 0, col_offset: int = 0) -> tuple[int, int]:
    """The one place a PyYAML mark (0-based) becomes a 1-based line and column."""
    column = mark.column + (col_offset if mark.line == 0 else 0)
    return mark.line + 1 + line_offset, column + 1


class _TooDeep(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as strings (as yaml-rs does with parse_datetime=False) and stops
    composing past MAX_DEPTH levels (before Python's own recursion limit)."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _CORE_TAG + "timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(problem=f"nesting is deeper than {MAX_DEPTH} levels",
                               problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


@dataclass
class Document:
    """One YAML/JSON document of one file: its data, and where its fields are."""

    file: str
    index: int
    data: Any
    start_line: int = 1
    root: Node | None = None
    """The composed node tree (small YAML) — fields are located by walking it."""
    text: str | None = None
    """The document's own text (fast path) — re-composed, one item at a time, to locate a field."""
    item_offsets: tuple[int, ...] | None = None
    """Fast path, `kind: List`: offset in `text` where each `items[i]` starts."""
    item_lines: tuple[int, ...] | None = None
    item_ends: tuple[int, ...] | None = None
    """JSON: offset just past each item (YAML items run up to the next one)."""
    _composed: dict[int, Node | None] = field(default_factory=dict, repr=False)

    def locate(self, path: Path, key: bool = False) -> tuple[int, int]:
        """1-based line and column of the deepest node of `path` that exists (of its key, with `key`)."""
        if self.root is not None:
            return _walk_to(self.root, path, key)
        if self.text is None:
            return self.start_line, 1
        if self.item_offsets is not None and len(path) >= 2 and path[0] == "items" and isinstance(path[1], int):
            i = path[1]
            if 0 <= i < len(self.item_offsets):
                return self._locate_in_slice(i, path[2:], key)
        return self._locate_in_slice(-1, path, key)

    def item_position(self, index: int) -> tuple[int, int]:
        """Line and column where `items[index]` starts, cheap (no composing) when the item index is known."""
        if self.item_lines is not None and self.item_offsets is not None and self.text is not None:
            offset = self.item_offsets[index]
            return self.item_lines[index], offset - self.text.rfind("\n", 0, offset)
        return self.locate(("items", index))

    def _locate_in_slice(self, item: int, path: Path, key: bool) -> tuple[int, int]:
        assert self.text is not None
        if item >= 0:
            assert self.item_offsets is not None and self.item_lines is not None
            start = self.item_offsets[item]
            if self.item_ends is not None:
                end = self.item_ends[item]
            else:
                end = self.item_offsets[item + 1] if item + 1 < len(self.item_offsets) else len(self.text)
            line0 = self.item_lines[item]
        else:
            start, end, line0 = 0, len(self.text), self.start_line
        if end - start > _MAX_RECOMPOSE_CHARS:
            return line0, 1  # no item index into a huge document: its start is the best cheap answer
        if item not in self._composed:
            line_start = self.text.rfind("\n", 0, start) + 1
            prefix = " " * (start - line_start) if self.text[line_start:start].strip() else self.text[line_start:start]
            try:
                self._composed[item] = yaml.compose(prefix + self.text[start:end], Loader=_Loader)
            except (yaml.YAMLError, RecursionError):
                self._composed[item] = None
        node = self._composed[item]
        if node is None:
            return line0, 1
        if isinstance(node, SequenceNode) and item >= 0 and node.value and self.text[start] == "-":
            node = node.value[0]
        line, col = _walk_to(node, path, key)
        return line + line0 - 1, col


def _walk_to(root: Node, path: Path, key: bool = False) -> tuple[int, int]:
    node = root
    for i, part in enumerate(path):
        child = None
        if isinstance(node, MappingNode) and isinstance(part, str):
            for key_node, value in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value == part:
                    child = key_node if key and i == len(path) - 1 else value
                    break
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
    return _position(node.start_mark)


@dataclass
class ParsedFile:
    documents: list[Document]
    problems: list[Problem]


def _problem(code: str, file: str, line: int, col: int, message: str, path: str = "", hint: str = "") -> Problem:
    return Problem(Severity.ERROR, file, line, col, message, path, hint, code=code)


def parse_file(name: str, content: bytes, *, max_bytes: int = MAX_BYTES) -> ParsedFile:
    """Parse one input file into documents; every failure becomes a Problem, never an exception. A file with
    no document at all (comments only, `---`, `null`) is an error too."""
    parsed = _parse_file(name, content, max_bytes)
    if not parsed.documents and not parsed.problems:
        parsed.problems.append(_problem("E-FILE-NO-OBJECTS",
                                        name, 1, 1, f"no Kubernetes objects and no cluster found in {name}"))
    return parsed


def _parse_file(name: str, content: bytes, max_bytes: int) -> ParsedFile:
    if len(content) > max_bytes:
        return ParsedFile([], [size_problem(name, len(content), max_bytes)])
    text, problem = _decode(name, content)
    if problem is not None:
        return ParsedFile([], [problem])
    assert text is not None
    if not text.strip():
        return ParsedFile([], [_problem("E-FILE-EMPTY", name, 1, 1, "file is empty")])
    stripped = text.lstrip()
    if stripped[:1] in "{[" and (name.lower().endswith(".json") or _looks_like_json(stripped)):
        parsed = _parse_json(name, text)
        if parsed is not None:
            return parsed
    if len(content) >= FAST_PATH_BYTES and not _needs_pyyaml(text):
        return _parse_yaml_fast(name, text)
    return _parse_yaml_marked(name, text)


def size_problem(name: str, size: int, max_bytes: int) -> Problem:
    """The error for a file over the size limit (checked before reading when the file is on disk)."""
    return _problem("E-FILE-TOO-BIG", name, 1, 1, f"file is {_megabytes(size)}, over the {_megabytes(max_bytes)} limit",
                    hint="split the input, or raise the limit (--max-bytes)")


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _decode(name: str, content: bytes) -> tuple[str | None, Problem | None]:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, _problem("E-FILE-UTF16", name, 1, 1, "file is UTF-16 text", hint="save it as UTF-8")
    if b"\x00" in content:
        return None, _problem("E-FILE-BINARY", name, 1, 1, "file is binary, not YAML or JSON text")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        col = exc.start - (content.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, _problem("E-FILE-NOT-UTF8",
                              name, line, col, "file is not UTF-8 text", hint=f"invalid byte 0x{content[exc.start]:02x}")
    bad = _CONTROL.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        return None, _problem("E-FILE-BINARY", name, line, col, "file is binary, not YAML or JSON text",
                              hint=f"control character U+{ord(bad.group()):04X}")
    return text, None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TAG_OR_MERGE = re.compile(r"[ \t\r\n\[{,:](?:![^\s=]|<<[ \t]*:)")
"""Where a tag or a merge key may start: after a blank, a line break (`\r` alone is one), a flow indicator, or a
`:` (in flow style a value may follow a JSON-like key's `:` directly: `{"a":!!python/…}`)."""
_DOC_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.MULTILINE)
_ITEMS_KEY = re.compile(r"^items:[ \t]*(?:#.*)?\r?\n(?:[ \t]*(?:#.*)?\r?\n)*( *)- ", re.MULTILINE)


def _looks_like_json(text: str) -> bool:
    return text[:1] == "{" and text[1:].lstrip()[:1] in ('"', "}") or text[:1] == "["


def _needs_pyyaml(text: str) -> bool:
    """Tags and merge keys are YAML features yaml-rs passes over silently: such files take the PyYAML path.
    (A `!` or `<<` inside a string is a false alarm that only costs speed.)"""
    for marker in ("!", "<<"):
        at = text.find(marker)
        while at >= 0:
            if _TAG_OR_MERGE.match(text, max(at - 1, 0)) or (at == 0 and _TAG_OR_MERGE.match(" " + text[:3])):
                return True
            at = text.find(marker, at + 1)
    return False


# ---------------------------------------------------------------------------------------------- PyYAML path


def _parse_yaml_marked(name: str, text: str, first_line: int = 1) -> ParsedFile:
    """Every document of `text` (whose first line is line `first_line` of the file); after a syntax error,
    parsing resumes at the next `---` line, so that the documents after a broken one are read too."""
    documents: list[Document] = []
    problems: list[Problem] = []
    budget = _AliasBudget()
    start: int | None = 0
    line, index, broken = first_line - 1, 0, 0
    while start is not None:
        if broken == MAX_BROKEN_DOCUMENTS:
            problems.append(_gave_up(name, line + 1))
            break
        start, line, index = _parse_yaml_from(name, text, start, line, index, documents, problems, budget)
        broken += 1
    return ParsedFile(documents, problems)


def _gave_up(name: str, line: int) -> Problem:
    return _problem("E-FILE-TOO-BROKEN",
                    name, line, 1, f"the rest of the file is not read: {MAX_BROKEN_DOCUMENTS} documents are broken",
                    hint="fix the first ones and validate again")


@dataclass
class _AliasBudget:
    """The nodes aliases may still add in this file (MAX_ALIAS_NODES, spent document by document)."""

    left: int = MAX_ALIAS_NODES


def _parse_yaml_from(name: str, text: str, start: int, line: int, index: int, documents: list[Document],
                     problems: list[Problem], budget: _AliasBudget) -> tuple[int | None, int, int]:
    """Parse `text` from offset `start`, a line start (0-based line `line` of the file); after a syntax error,
    return where to resume, its line and the next document index."""
    try:
        loader = _Loader(text[start:] if start else text)
    except yaml.reader.ReaderError as exc:  # PyYAML checks every character of a string up front
        at = start + exc.position
        problems.append(_problem("E-YAML-CHARACTER",
                                 name, line + text.count("\n", start, at) + 1, at - text.rfind("\n", 0, at),
                                 f"character U+{exc.character:04X} is not allowed in YAML",
                                 hint="YAML allows no C1 control characters, surrogates, U+FFFE or U+FFFF"))
        return None, line, index
    loader.line = line  # marks count lines from here: no padding to re-scan
    mark: yaml.Mark | None = None
    try:
        while loader.check_node():
            root = loader.get_node()
            if root is None:
                continue
            found = _check_tree(name, root, budget)
            problems.extend(found)
            if budget.left < 0:
                return None, line, index  # the file's aliases are spent: the rest of it is not read
            if not found:
                data = loader.construct_document(root)
                if data is not None:
                    documents.append(Document(name, index, data, _position(root.start_mark)[0], root=root))
            index += 1
    except _TooDeep as exc:
        problems.append(_problem("E-YAML-TOO-DEEP", name, *_position(exc.problem_mark), str(exc.problem)))
        mark = exc.problem_mark
    except yaml.MarkedYAMLError as exc:
        problems.append(_syntax_problem(name, exc))
        mark = exc.problem_mark or exc.context_mark
    except yaml.YAMLError as exc:
        problems.append(_problem("E-YAML-SYNTAX", name, line + 1, 1, f"syntax error: {exc}"))
    finally:
        loader.dispose()
    if mark is None:
        return None, line, index
    # the first `---` line at or after the error's line, past `start`: a `---` at column 0 always starts a
    # document, it cannot belong to a scalar or a collection of the broken one
    at = start
    for _ in range(mark.line - line):
        at = text.find("\n", at) + 1
        if at == 0:
            return None, line, index
    found = _DOC_START.search(text, max(at, start + 1))
    if found is None:
        return None, line, index
    return found.start(), line + text.count("\n", start, found.start()), index + 1


def _syntax_problem(name: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = _position(mark) if mark is not None else (1, 1)
    hint = ""
    if exc.context and exc.context_mark is not None:
        cline, ccol = _position(exc.context_mark)
        hint = f"{exc.context} at line {cline}, column {ccol}"
    return _problem("E-YAML-SYNTAX", name, line, col, f"syntax error: {exc.problem or exc.context}", hint=hint)


def _check_tree(name: str, root: Node, budget: _AliasBudget) -> list[Problem]:
    """Duplicate keys, tags, depth, circular aliases and alias expansion of one composed document (nothing
    constructed yet); what aliases add is taken from the file's `budget`."""
    problems: list[Problem] = []
    expanded: dict[int, int] = {}
    seen: set[int] = set()
    inside: set[int] = set()
    """The nodes on the path from the root to the node being visited: an alias to one of them is a cycle."""

    def fail(node: Node, path: Path, code: str, message: str, hint: str = "") -> None:
        line, col = _position(node.start_mark)
        problems.append(_problem(code, name, line, col, message, render_path(path), hint))

    stack: list[tuple[Node, Path, bool]] = [(root, (), False)]
    while stack:
        node, path, done = stack.pop()
        if done:
            children = _children(node)
            expanded[id(node)] = 1 + sum(expanded.get(id(c), 1) for c in children)
            inside.discard(id(node))
            continue
        if id(node) in inside:
            fail(node, path, "E-YAML-ALIAS-CYCLE", "an alias refers to a node that contains it (a circular structure)",
                 "write the data out instead of nesting an anchor inside itself")
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace(_CORE_TAG, "!!")
            if tag.startswith("!!python/"):
                fail(node, path, "E-YAML-UNSAFE-TAG",
                     f"unsafe tag '{tag}' is not allowed", "tags are never constructed; remove the tag")
            else:
                fail(node, path, "E-YAML-UNKNOWN-TAG",
                     f"unknown tag '{tag}'", "tags are never constructed; remove the tag")
            continue
        stack.append((node, path, True))
        inside.add(id(node))
        if isinstance(node, MappingNode):
            keys: dict[Any, Node] = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag != _CORE_TAG + "merge":
                    if key.value in keys:
                        first = _position(keys[key.value].start_mark)[0]
                        fail(key, path + (key.value,), "E-DUP-KEY", f"duplicate key '{key.value}'",
                             f"first defined at line {first}")
                    else:
                        keys[key.value] = key
                stack.append((key, path, False))
                stack.append((value, path + (key.value if isinstance(key, ScalarNode) else "?",), False))
        elif isinstance(node, SequenceNode):
            for i, child in enumerate(node.value):
                stack.append((child, path + (i,), False))
    if problems:
        return problems
    total = expanded.get(id(root), 1)
    if total > MAX_EXPANDED_NODES:
        fail(root, (), "E-YAML-ALIAS-BOMB",
             f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through aliases",
             "an alias bomb? write the data out instead of repeating anchors")
    elif total > len(seen):
        budget.left -= total - len(seen)
        if budget.left < 0:
            fail(root, (), "E-YAML-ALIAS-BUDGET",
                 f"aliases add more than {MAX_ALIAS_NODES:,} nodes to the file; the rest of it is not read",
                 "an alias bomb? write the data out instead of repeating anchors")
    return problems


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


# ------------------------------------------------------------------------------------------------ fast path


def _parse_yaml_fast(name: str, text: str) -> ParsedFile:
    documents: list[Document] = []
    problems: list[Problem] = []
    starts = [m.start() for m in _DOC_START.finditer(text)] if text.startswith("---") or "\n---" in text else []
    if not starts or text[: starts[0]].strip(" \t\r\n") and not _only_comments(text[: starts[0]]):
        starts.insert(0, 0)
    budget = _AliasBudget()
    line = 1
    previous = 0
    broken = 0
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        line += text.count("\n", previous, start)
        previous = start
        chunk = text[start:end]
        if broken == MAX_BROKEN_DOCUMENTS:
            problems.append(_gave_up(name, line))
            break
        limits = yaml_rs.AliasLimits(max_total_replayed_events=max(budget.left, 0),
                                     max_replay_stack_depth=_YAML_RS_STACK_DEPTH)
        try:
            data = yaml_rs.loads(chunk, parse_datetime=False, alias_limits=limits)
        except yaml_rs.YAMLDecodeError as exc:
            problems.append(_yaml_rs_problem(name, str(exc), line, chunk))
            broken += 1
            continue  # the next document is read all the same
        except (RecursionError, UnicodeEncodeError) as exc:
            problems.append(_problem("E-YAML-SYNTAX", name, line, 1, f"syntax error: {exc}"))
            broken += 1
            continue
        if data is None:
            continue
        if _ALIAS.search(chunk):
            budget.left -= _count_nodes(data)  # an upper bound of what aliases replayed in this document
        doc = Document(name, index, data, line, text=chunk)
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            _index_items(doc)
        documents.append(doc)
    return ParsedFile(documents, problems)


_ALIAS = re.compile(r"[ \t\r\n\[{,:-]\*[^\s,\]}]")


def _count_nodes(data: Any) -> int:
    """Nodes of a parsed document (mappings count their keys and values)."""
    count = 0
    stack = [data]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.lstrip().startswith(("#", "%")) for ln in text.splitlines())


_YAML_RS_AT = re.compile(r"at line (\d+), column (\d+)")


def _yaml_rs_problem(name: str, message: str, line0: int, chunk: str) -> Problem:
    """A yaml-rs error: the failing document re-parsed by PyYAML gives the canonical message and mark (under
    1 MB); a bigger one keeps yaml-rs's own position, or, for a duplicated key, a targeted scan finds it."""
    if len(chunk) < 4 * FAST_PATH_BYTES:
        reparsed = _parse_yaml_marked(name, chunk, first_line=line0)
        if reparsed.problems:
            return reparsed.problems[0]
    at = _YAML_RS_AT.search(message)
    last = message.strip().splitlines()[-1]
    if "alias replay limit" in message:
        return _problem("E-YAML-ALIAS-BOMB", name, line0, 1, "too many alias expansions",
                        hint="an alias bomb? write the data out instead of repeating anchors")
    duplicate = _YAML_RS_DUPLICATE.search(message)
    if duplicate is not None:
        found = _find_duplicate_key(chunk, duplicate.group(1))
        if found is not None:
            (line, col), first = found
            return _problem("E-DUP-KEY", name, line0 + line - 1, col, f"duplicate key '{duplicate.group(1)}'",
                            hint=f"first defined at line {line0 + first - 1}")
        return _problem("E-DUP-KEY", name, line0, 1, f"duplicate key '{duplicate.group(1)}'")
    if at is None:
        return _problem("E-YAML-SYNTAX", name, line0, 1, f"syntax error: {last}")
    return _problem("E-YAML-SYNTAX", name, line0 + int(at.group(1)) - 1, int(at.group(2)), f"syntax error: {last}")


_YAML_RS_DUPLICATE = re.compile(r"duplicate mapping key: '([^'\n]+)'")


def _find_duplicate_key(text: str, key: str) -> tuple[tuple[int, int], int] | None:
    """Where a block-style key repeats in one mapping: two `key:` lines at one indentation with no line
    indented less between them. yaml-rs names the key but not the place; this scan runs only on that error."""
    pattern = re.compile(rf"^( *)(?:- )?{re.escape(key)}[ \t]*:", re.MULTILINE)
    last_at: dict[int, int] = {}
    for match in pattern.finditer(text):
        indent = match.end(1) - match.start(1) + (2 if text.startswith("- ", match.end(1)) else 0)
        key_at = match.start(1) + indent
        previous = last_at.get(indent)
        if previous is not None and not re.search(rf"\n {{0,{max(indent - 1, 0)}}}\S", text[previous:key_at]) \
                and "\n" + " " * (indent - 2) + "- " not in text[previous:key_at]:
            line = text.count("\n", 0, key_at) + 1
            return (line, key_at - text.rfind("\n", 0, key_at)), text.count("\n", 0, previous) + 1
        last_at[indent] = key_at
    return None


def _index_items(doc: Document) -> None:
    """Offsets and lines of each `items[i]` of a big `kind: List` document, found by a line scan."""
    assert doc.text is not None
    text = doc.text
    head = _ITEMS_KEY.search(text)
    if head is None:
        return
    indent = head.group(1)
    pattern = re.compile(re.escape(f"\n{indent}- "))
    offsets = [m.start() + 1 + len(indent) for m in pattern.finditer(text, head.end() - len(indent) - 3)]
    if len(offsets) != len(doc.data["items"]):
        return
    doc.item_offsets = tuple(offsets)
    doc.item_lines = _lines_of(text, offsets, doc.start_line)


def _lines_of(text: str, offsets: Sequence[int], first_line: int) -> tuple[int, ...]:
    lines = []
    line, previous = first_line, 0
    for offset in offsets:
        line += text.count("\n", previous, offset)
        previous = offset
        lines.append(line)
    return tuple(lines)


# ----------------------------------------------------------------------------------------------------- JSON


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


_JSON_SCAN_CHECKED = json.scanner.make_scanner(json.JSONDecoder(object_pairs_hook=_object_without_duplicates))
_JSON_SCAN_FAST = json.scanner.make_scanner(json.JSONDecoder())
"""Duplicate keys are looked for in JSON under FAST_PATH_BYTES; in big dumps (kubectl output, which has none)
the per-object hook would double the parse time."""
_WS = re.compile(r"[ \t\n\r]*")


def _parse_json(name: str, text: str) -> ParsedFile | None:
    """JSON documents (one or several concatenated). None: not JSON after all, try YAML."""
    documents: list[Document] = []
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    index = 0
    scan = _JSON_SCAN_CHECKED if len(text) < FAST_PATH_BYTES else _JSON_SCAN_FAST
    try:
        while pos < len(text):
            start_line = text.count("\n", 0, pos) + 1
            value, items, end = _scan_json_document(text, pos, scan)
            doc = Document(name, index, value, start_line, text=text[pos:end])
            if items is not None:
                doc.item_offsets = tuple(start - pos for start, _ in items)
                doc.item_ends = tuple(stop - pos for _, stop in items)
                doc.item_lines = _lines_of(text, [start for start, _ in items], 1)
            documents.append(doc)
            index += 1
            pos = _WS.match(text, end).end()  # type: ignore[union-attr]
    except _DuplicateKey as exc:
        located = _parse_yaml_marked(name, text).problems  # small file: PyYAML finds the key's own mark
        duplicate = [p for p in located if p.message == f"duplicate key '{exc.key}'"]
        line, col = _json_position(text, pos)
        return ParsedFile(documents, duplicate[:1] or [_problem("E-DUP-KEY",
                                                                name, line, col, f"duplicate key '{exc.key}'")])
    except (json.JSONDecodeError, StopIteration) as exc:
        if not name.lower().endswith(".json"):
            return None  # YAML that merely starts like JSON (e.g. JSON documents between `---` lines)
        if isinstance(exc, json.JSONDecodeError):
            return ParsedFile(documents, [_problem("E-JSON-SYNTAX",
                                                   name, exc.lineno, exc.colno, f"syntax error: {exc.msg}")])
        line, col = _json_position(text, exc.value)
        return ParsedFile(documents, [_problem("E-JSON-SYNTAX", name, line, col, "syntax error: expecting value")])
    except RecursionError:
        return ParsedFile(documents, [_problem("E-JSON-TOO-DEEP", name, 1, 1, "nesting is too deep")])
    return ParsedFile(documents, [])


def _json_position(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _scan_json_document(text: str, pos: int, scan: Any) -> tuple[Any, list[tuple[int, int]] | None, int]:
    """One JSON value from `pos`; for a top-level object, also the span of each element of its `items` array."""
    if text[pos] != "{":
        value, end = scan(text, pos)
        return value, None, end
    pairs: list[tuple[str, Any]] = []
    item_spans: list[tuple[int, int]] | None = None
    pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] == "}":
        return {}, None, pos + 1
    while True:
        if text[pos : pos + 1] != '"':
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
        key, pos = scan(text, pos)
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] != ":":
            raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if key == "items" and text[pos : pos + 1] == "[":
            value, item_spans, pos = _scan_json_array(text, pos, scan)
        else:
            value, pos = scan(text, pos)
        pairs.append((key, value))
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] == ",":
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            continue
        if text[pos : pos + 1] == "}":
            return _object_without_duplicates(pairs), item_spans, pos + 1
        raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)


def _scan_json_array(text: str, pos: int, scan: Any) -> tuple[list[Any], list[tuple[int, int]], int]:
    values: list[Any] = []
    spans: list[tuple[int, int]] = []
    pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] == "]":
        return values, spans, pos + 1
    while True:
        start = pos
        value, pos = scan(text, pos)
        spans.append((start, pos))
        values.append(value)
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if text[pos : pos + 1] == ",":
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            continue
        if text[pos : pos + 1] == "]":
            return values, spans, pos + 1
        raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
