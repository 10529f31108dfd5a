"""The built model zoo: generated manifest, variant specs and file verification."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from carin_ros.core.space import Precision, Variant

MANIFEST_NAME = 'manifest.yaml'
USER_ZOO_NAME = 'user_zoo.yaml'
MANIFEST_SCHEMA = 1
TASK_KINDS = ('image_classification', 'text_classification', 'face_analysis')


class ZooError(ValueError):
    """A zoo that cannot be used: names the file (and field) at fault."""


@dataclass(frozen=True)
class FileSpec:
    """One file a variant uses: absolute path, expected sha256 and size in bytes."""

    role: str
    path: str
    sha256: str
    size: int

    def to_dict(self, root: str) -> dict:
        return {'path': os.path.relpath(self.path, root), 'sha256': self.sha256,
                'size': self.size}


@dataclass(frozen=True)
class VariantSpec:
    """One deployable variant of a task, as the manifest describes it.

    ``files`` maps a role (``model``, ``labels``, ``tokenizer``, ``pnet``, ``age``...) to
    the absolute path; ``input`` is the task's preprocessing spec; ``params`` holds the
    remaining recipe values (published accuracy, detector thresholds, test accuracy...).
    """

    task: str
    kind: str
    name: str
    arch: str
    precision: Precision
    file_specs: tuple[FileSpec, ...]
    input: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ''
    licence: str = ''
    origin: str = 'recipe'

    @property
    def files(self) -> dict[str, str]:
        return {f.role: f.path for f in self.file_specs}

    @property
    def sha256(self) -> dict[str, str]:
        return {f.role: f.sha256 for f in self.file_specs}

    @property
    def size_bytes(self) -> int:
        """Bytes of the model files (labels and tokenizer files excluded)."""
        return sum(f.size for f in self.file_specs if f.role not in NON_MODEL_ROLES)

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 2**20

    def file(self, role: str) -> FileSpec:
        for f in self.file_specs:
            if f.role == role:
                return f
        raise ZooError(f'variant {self.task}/{self.name} has no {role!r} file '
                       f'(has {[f.role for f in self.file_specs]})')

    def core_variant(self) -> Variant:
        return Variant(self.task, self.name, self.arch, self.precision)

    def to_dict(self, root: str) -> dict:
        out: dict = {'name': self.name, 'arch': self.arch, 'precision': self.precision.value,
                     'files': {f.role: f.to_dict(root) for f in self.file_specs}}
        if self.input:
            out['input'] = dict(self.input)
        if self.params:
            out['params'] = dict(self.params)
        out['source'] = self.source
        out['licence'] = self.licence
        return out


NON_MODEL_ROLES = frozenset({'labels', 'tokenizer'})


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def file_spec(role: str, path: str) -> FileSpec:
    """The :class:`FileSpec` of an existing file (hashes it)."""
    path = os.path.abspath(path)
    return FileSpec(role, path, sha256_file(path), os.path.getsize(path))


_VERIFIED: dict[tuple[str, int, int], str] = {}


def verify_file(spec: FileSpec, deep: bool = True) -> None:
    """Raise :class:`ZooError` naming the file when it is missing, resized or altered.

    ``deep`` checks the sha256 (memoised per path, size and mtime), otherwise the size only.
    """
    try:
        st = os.stat(spec.path)
    except OSError as exc:
        raise ZooError(f'model file missing: {spec.path} ({spec.role}): {exc.strerror}; '
                       f'rebuild the zoo (make models)') from exc
    if st.st_size != spec.size:
        raise ZooError(f'model file {spec.path} ({spec.role}) has {st.st_size} bytes, the '
                       f'manifest says {spec.size}: it was altered or truncated; rebuild the zoo')
    if not deep:
        return
    key = (spec.path, st.st_size, st.st_mtime_ns)
    digest = _VERIFIED.get(key)
    if digest is None:
        digest = sha256_file(spec.path)
        _VERIFIED[key] = digest
    if digest != spec.sha256:
        raise ZooError(f'model file {spec.path} ({spec.role}) has sha256 {digest[:12]}..., the '
                       f'manifest says {spec.sha256[:12]}...: it was altered; rebuild the zoo')


def verify_variant(spec: VariantSpec, deep: bool = True) -> None:
    for f in spec.file_specs:
        verify_file(f, deep=deep)


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_model_dir() -> str:
    """``$CARIN_MODEL_DIR``, else ``<repo>/models/build``, else the installed share dir's."""
    env = os.environ.get('CARIN_MODEL_DIR')
    if env:
        return env
    repo = os.path.join(_repo_root(), 'models', 'build')
    if os.path.isfile(os.path.join(repo, MANIFEST_NAME)):
        return repo
    try:
        from ament_index_python.packages import get_package_share_directory
        share = os.path.join(get_package_share_directory('carin_ros'), 'models', 'build')
        if os.path.isfile(os.path.join(share, MANIFEST_NAME)):
            return share
    except Exception:  # ament index absent or package not installed: fall back to the repo
        pass
    return repo


def _read_yaml(path: str) -> Any:
    try:
        with open(path, encoding='utf-8') as f:
            return yaml.safe_load(f)
    except OSError as exc:
        raise ZooError(f'{path}: cannot read: {exc.strerror}') from exc
    except yaml.YAMLError as exc:
        raise ZooError(f'{path}: malformed YAML: {exc}') from exc


def contained_path(root: str, path: str, where: str) -> str:
    """``path`` (relative to ``root``) as an absolute path that must lie inside ``root``.

    Manifests are data: an entry such as ``../../etc/passwd``, an absolute path elsewhere or a
    symlink leading out of the model folder is rejected (:class:`ZooError` naming the field).
    """
    full = os.path.normpath(os.path.join(root, path))
    real_root, real = os.path.realpath(root), os.path.realpath(full)
    if os.path.commonpath([real_root, real]) != real_root:
        raise ZooError(f'{where}: {path!r} resolves to {real}, outside the model folder '
                       f'{real_root}')
    return full


def parse_variant(task: str, kind: str, data: Any, root: str, where: str,
                  origin: str = 'recipe') -> VariantSpec:
    """A :class:`VariantSpec` from its manifest mapping; ``where`` names file and field."""
    if not isinstance(data, Mapping):
        raise ZooError(f'{where}: must be a mapping')
    for key in ('name', 'arch', 'precision', 'files'):
        if key not in data:
            raise ZooError(f'{where}: missing key {key!r}')
    try:
        precision = Precision(data['precision'])
    except ValueError as exc:
        raise ZooError(f'{where}.precision: {data["precision"]!r} is not one of '
                       f'{[p.value for p in Precision]}') from exc
    files = data['files']
    if not isinstance(files, Mapping) or not files:
        raise ZooError(f'{where}.files: must be a non-empty mapping role -> file')
    specs = []
    for role, f in files.items():
        fw = f'{where}.files.{role}'
        if not isinstance(f, Mapping) or not {'path', 'sha256', 'size'} <= set(f):
            raise ZooError(f'{fw}: needs path, sha256 and size')
        path = f['path']
        if not isinstance(path, str) or not path:
            raise ZooError(f'{fw}.path: must be a string')
        try:
            size = int(f['size'])
        except (TypeError, ValueError) as exc:
            raise ZooError(f'{fw}.size: must be an integer') from exc
        specs.append(FileSpec(str(role), contained_path(root, path, f'{fw}.path'),
                              str(f['sha256']), size))
    for key in ('input', 'params'):
        if key in data and not isinstance(data[key], Mapping):
            raise ZooError(f'{where}.{key}: must be a mapping')
    return VariantSpec(task=task, kind=kind, name=str(data['name']), arch=str(data['arch']),
                       precision=precision, file_specs=tuple(specs),
                       input=dict(data.get('input') or {}), params=dict(data.get('params') or {}),
                       source=str(data.get('source', '')), licence=str(data.get('licence', '')),
                       origin=origin)


@dataclass(frozen=True)
class TaskEntry:
    """A task of the zoo: its kind and variants."""

    name: str
    kind: str
    variants: tuple[VariantSpec, ...]


class Zoo:
    """The built zoo of a model folder: the generated manifest merged with the user zoo."""

    def __init__(self, root: str, version: str, entries: Mapping[str, TaskEntry],
                 meta: Mapping[str, Any] | None = None) -> None:
        self.root = os.path.abspath(root)
        self.version = version
        self._entries = dict(entries)
        self.meta: dict = dict(meta or {})

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def kind(self, task: str) -> str:
        return self._entry(task).kind

    def _entry(self, task: str) -> TaskEntry:
        try:
            return self._entries[task]
        except KeyError:
            raise KeyError(f'zoo at {self.root} has no task {task!r} (tasks: '
                           f'{", ".join(self.tasks)})') from None

    def variants(self, task: str) -> tuple[VariantSpec, ...]:
        return self._entry(task).variants

    def variant(self, task: str, name: str) -> VariantSpec:
        for v in self._entry(task).variants:
            if v.name == name:
                return v
        raise KeyError(f'zoo task {task!r} has no variant {name!r} (variants: '
                       f'{", ".join(v.name for v in self._entry(task).variants)})')

    def all_variants(self) -> list[VariantSpec]:
        return [v for t in self.tasks for v in self.variants(t)]

    def core_variants(self) -> list[Variant]:
        return [v.core_variant() for v in self.all_variants()]

    def verify(self, deep: bool = True) -> None:
        for v in self.all_variants():
            verify_variant(v, deep=deep)

    @classmethod
    def load(cls, model_dir: str | os.PathLike | None = None, deep: bool = False) -> Zoo:
        """Read ``<model_dir>/manifest.yaml`` (and ``user_zoo.yaml``), check every file.

        Files are checked for presence and size here (``deep`` adds sha256); pipelines
        check the sha256 of the files they load.
        """
        root = os.path.abspath(os.fspath(model_dir or default_model_dir()))
        path = os.path.join(root, MANIFEST_NAME)
        if not os.path.isfile(path):
            raise ZooError(f'{path}: no zoo manifest; build the zoo first '
                           f'(make models, or python -m carin_ros.zoo.build --out {root})')
        data = _read_yaml(path)
        if not isinstance(data, Mapping):
            raise ZooError(f'{path}: top level must be a mapping')
        if data.get('schema') != MANIFEST_SCHEMA:
            raise ZooError(f'{path}: schema is {data.get("schema")!r}, this carin_ros reads '
                           f'{MANIFEST_SCHEMA}; rebuild the zoo')
        entries = _parse_tasks(data.get('tasks'), root, path, 'recipe')
        user_path = os.path.join(root, USER_ZOO_NAME)
        if os.path.isfile(user_path):
            user = _read_yaml(user_path) or {}
            if not isinstance(user, Mapping):
                raise ZooError(f'{user_path}: top level must be a mapping')
            for name, entry in _parse_tasks(user.get('tasks') or {}, root, user_path,
                                            'user').items():
                if name in entries:
                    if entries[name].kind != entry.kind:
                        raise ZooError(f'{user_path}: tasks.{name}: kind {entry.kind} differs '
                                       f'from the built zoo\'s {entries[name].kind}')
                    known = {v.name for v in entries[name].variants}
                    clash = [v.name for v in entry.variants if v.name in known]
                    if clash:
                        raise ZooError(f'{user_path}: tasks.{name}: variants {clash} already '
                                       f'exist in the built zoo')
                    entry = TaskEntry(name, entry.kind, entries[name].variants + entry.variants)
                entries[name] = entry
        zoo = cls(root, str(data.get('version', '')), entries,
                  meta={k: data[k] for k in ('built', 'build_seconds', 'tools') if k in data})
        zoo.verify(deep=deep)
        return zoo


def _parse_tasks(tasks: Any, root: str, path: str, origin: str) -> dict[str, TaskEntry]:
    if not isinstance(tasks, Mapping):
        raise ZooError(f'{path}: "tasks" must be a mapping')
    out = {}
    for name, t in tasks.items():
        where = f'{path}: tasks.{name}'
        if not isinstance(t, Mapping):
            raise ZooError(f'{where}: must be a mapping')
        kind = t.get('kind')
        if kind not in TASK_KINDS:
            raise ZooError(f'{where}.kind: {kind!r} is not one of {list(TASK_KINDS)}')
        items = t.get('variants') or []
        if not isinstance(items, list):
            raise ZooError(f'{where}.variants: must be a list')
        variants = tuple(parse_variant(str(name), kind, v, root, f'{where}.variants[{i}]',
                                       origin) for i, v in enumerate(items))
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ZooError(f'{where}.variants: duplicate names {names}')
        out[str(name)] = TaskEntry(str(name), kind, variants)
    return out


def write_yaml(path: str, data: Any) -> None:
    """Write YAML atomically (temp file + rename)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        yaml.safe_dump(data, f, sort_keys=False, width=99)
    os.replace(tmp, path)
