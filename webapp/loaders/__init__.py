"""Input → `Cluster`: the project's cluster YAML and real Kubernetes manifests, mixed freely, files or folders.

Contract (docs/architecture.md): `load_paths`, `load_sources`, `load_sample`, `list_samples`, `LoadResult`,
`SampleInfo`, `DEFAULT_SAMPLE`.
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from webapp.loaders.cluster_yaml import is_cluster_yaml, read_cluster_yaml
from webapp.loaders.documents import MAX_BYTES, ParsedFile, parse_file, size_problem
from webapp.loaders.drafts import Inputs
from webapp.loaders.fill import build_cluster
from webapp.loaders.manifests import ManifestReader, read_manifest
from webapp.model import Cluster
from webapp.paths import SAMPLES_DIR
from webapp.problems import LoadError, Problem, Severity

DEFAULT_SAMPLE = "seed-article"
LOADER_VERSION = 5
"""Part of every cache key (webapp.app.cache): raise it when the loader's output may change. 2: names follow
the API server's rules, aliases have a per-file budget, an empty input is an error (issue 14). 3: a kubeconfig's
current context names the cluster (issue 18). 4: Node.addresses, Problem.message_zh, a pod IP on the bridge
address refused (issue 17). 5: the cluster YAML's healthCheckNodePort; a given one is checked against the nodePort
range, the other nodePorts and the Service's type and externalTrafficPolicy."""
INPUT_SUFFIXES = (".yaml", ".yml", ".json")
"""Files read from a folder (a file named explicitly is read whatever its suffix)."""

__all__ = [
    "DEFAULT_SAMPLE",
    "LoadResult",
    "SampleInfo",
    "list_samples",
    "load_paths",
    "load_sample",
    "load_sources",
]


@dataclass(frozen=True)
class LoadResult:
    """The cluster (None when there are errors) and every problem of the load, in file:line order."""

    cluster: Cluster | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == Severity.WARNING)

    @property
    def notices(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == Severity.NOTICE)

    @property
    def ok(self) -> bool:
        return self.cluster is not None and not self.errors


Progress = Callable[[str], None]
"""Told each stage of a load as it starts: `parse` (the files' text), `read` (the objects), `check` (the model)."""


def load_sources(sources: Sequence[tuple[str, bytes]], *, max_bytes: int = MAX_BYTES,
                 progress: Progress | None = None) -> LoadResult:
    """Load uploads: (file name, content) pairs, in the order given."""
    tell = progress or _silent
    with _no_gc_pauses():
        tell("parse")
        return _load([parse_file(name, content, max_bytes=max_bytes) for name, content in sources], tell)


def _silent(_stage: str) -> None:
    """No progress wanted."""


def load_paths(paths: Iterable[str | os.PathLike[str]], *, max_bytes: int = MAX_BYTES) -> LoadResult:
    """Load files and folders (folders: their .yaml/.yml/.json files, recursively, in name order)."""
    with _no_gc_pauses():
        return _load([_read(name, max_bytes) for name in _expand(paths)])


FREEZE_FROM_OBJECTS = 200_000
"""A load that leaves at least this many objects tracked by the cyclic GC freezes them (`gc.freeze`)."""


@contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """A load allocates millions of acyclic objects; the cyclic GC would rescan them all again and again. After a
    big load the objects are frozen (moved out of the collector's sight): the load makes no cyclic garbage (a
    `gc.collect()` after a 1,000-node load finds 0 unreachable objects), and without the freeze the first
    collection after the load — inside the first trace — would scan every one of them (200 ms at 1,000 nodes,
    about a second at 5,000)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if len(gc.get_objects(generation=0)) >= FREEZE_FROM_OBJECTS:
            gc.freeze()
        if enabled:
            gc.enable()


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    names: list[str] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            found = sorted(
                (f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in INPUT_SUFFIXES),
                key=lambda f: f.relative_to(p).as_posix(),
            )
            names.extend(str(f) for f in found)
            if not found:
                names.append(str(p))
        else:
            names.append(str(p))
    return names


def _read(name: str, max_bytes: int) -> ParsedFile:
    path = Path(name)
    if path.is_dir():
        return _unreadable(name, "folder holds no .yaml, .yml or .json file")
    if not path.exists():
        return _unreadable(name, "no such file")
    size = path.stat().st_size
    if size > max_bytes:
        return ParsedFile([], [size_problem(name, size, max_bytes)])
    try:
        content = path.read_bytes()
    except OSError as exc:
        return _unreadable(name, f"file is not readable: {exc.strerror}")
    return parse_file(name, content, max_bytes=max_bytes)


def _unreadable(name: str, message: str) -> ParsedFile:
    return ParsedFile([], [Problem(Severity.ERROR, name, 1, 1, message, code="E-FILE-UNREADABLE")])


def _load(parsed: list[ParsedFile], tell: Progress = _silent) -> LoadResult:
    """Read every document that parsed, then fill and check the model from all that was read, so that the
    model's problems are reported together with the parse and reading errors (no cluster then)."""
    tell("read")
    inputs = Inputs()
    manifests = ManifestReader(inputs)
    for pf in parsed:
        inputs.problems.extend(pf.problems)
        if any(p.severity == Severity.ERROR for p in pf.problems):
            inputs.settings_lost = True  # what did not parse may have held network settings
        for doc in pf.documents:
            if is_cluster_yaml(doc.data):
                read_cluster_yaml(doc, inputs)
            else:
                read_manifest(doc, manifests)
    manifests.finish()
    files = [pf.documents[0].file if pf.documents else pf.problems[0].file
             for pf in parsed if pf.documents or pf.problems]
    anchor = next((pf.documents[0].file for pf in parsed if pf.documents), None)
    if anchor is None:
        anchor = next((p.file for pf in parsed for p in pf.problems), "<input>")
    tell("check")
    cluster, problems = build_cluster(inputs, anchor)
    if cluster is not None:
        cluster.build_indexes()
    return LoadResult(cluster, _ordered(problems, files))


def _ordered(problems: list[Problem], files: list[str]) -> tuple[Problem, ...]:
    """By file (in load order), then line and column; problems at one place keep the order they were found in."""
    order: dict[str, int] = {}
    for name in files:
        order.setdefault(name, len(order))
    for p in problems:
        order.setdefault(p.file, len(order))
    return tuple(sorted(problems, key=lambda p: (order[p.file], p.line, p.col)))


# ---------------------------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class SampleInfo:
    name: str
    title: str
    description: str
    path: Path


def list_samples() -> list[SampleInfo]:
    """The built-in samples: each file or folder in samples/ with a one-line description, default first."""
    samples = [_sample_info(p) for p in sorted(SAMPLES_DIR.iterdir()) if _is_sample(p)]
    return sorted(samples, key=lambda s: (s.name != DEFAULT_SAMPLE, s.name))


def _is_sample(path: Path) -> bool:
    if path.name.startswith((".", "_")):
        return False
    return path.is_dir() or path.suffix.lower() in INPUT_SUFFIXES


def _sample_info(path: Path) -> SampleInfo:
    name = path.stem if path.is_file() else path.name
    description = ""
    title = name
    main = path if path.is_file() else _cluster_file(path)
    if main is not None:
        import yaml

        try:
            head = yaml.safe_load(main.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            head = None
        if isinstance(head, dict):
            description = str(head.get("description", ""))
            title = str(head.get("title") or head.get("name") or name)
    return SampleInfo(name=name, title=title, description=description, path=path)


def _cluster_file(folder: Path) -> Path | None:
    for candidate in sorted(folder.iterdir()):
        if candidate.name.startswith("cluster.") and candidate.suffix in INPUT_SUFFIXES:
            return candidate
    return None


def load_sample(name: str = DEFAULT_SAMPLE) -> Cluster:
    """A built-in sample's cluster (raises LoadError if it does not load, KeyError if there is no such sample)."""
    for sample in list_samples():
        if sample.name == name:
            result = load_paths([sample.path])
            if result.cluster is None:
                raise LoadError(list(result.problems))
            return result.cluster
    raise KeyError(f"no sample named {name!r}; samples: {', '.join(s.name for s in list_samples())}")
