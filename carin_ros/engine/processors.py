"""Processor discovery (CPU cores, GPUs, NPUs via ONNX Runtime providers) and provider options."""
from __future__ import annotations

import enum
import logging
import os
import platform
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import yaml

from carin_ros.core.space import Processor

log = logging.getLogger(__name__)

CPU = 'CPUExecutionProvider'
CUDA = 'CUDAExecutionProvider'
TENSORRT = 'TensorrtExecutionProvider'
OPENVINO = 'OpenVINOExecutionProvider'
XNNPACK = 'XnnpackExecutionProvider'
COREML = 'CoreMLExecutionProvider'
QNN = 'QNNExecutionProvider'
DIRECTML = 'DmlExecutionProvider'

DEFAULT_TRT_CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'carin_ros', 'trt_engines')


class ProcessorConfigError(ValueError):
    """A processor override file that cannot be used: names the file and the field."""


class Kind(enum.StrEnum):
    """The family of hardware a processor drives."""

    CPU = 'cpu'
    GPU = 'gpu'
    NPU = 'npu'


_KIND = {CPU: Kind.CPU, XNNPACK: Kind.CPU, OPENVINO: Kind.CPU, CUDA: Kind.GPU,
         TENSORRT: Kind.GPU, DIRECTML: Kind.GPU, COREML: Kind.NPU, QNN: Kind.NPU}


def kind_of(processor: Processor) -> Kind:
    """CPU, GPU or NPU; OpenVINO counts by its ``device_type`` option (CPU when absent)."""
    if processor.provider == OPENVINO:
        device = dict(processor.options).get('device_type', 'CPU').upper()
        return Kind.GPU if device.startswith('GPU') else (
            Kind.NPU if device.startswith('NPU') else Kind.CPU)
    return _KIND.get(processor.provider, Kind.GPU)


def is_pinned_cpu(processor: Processor) -> bool:
    """True when the processor's work runs on host threads pinned to specific cores."""
    return processor.is_cpu and bool(processor.cores)


@dataclass(frozen=True)
class Host:
    """What this process can use: its CPU cores, ORT providers and NVIDIA device count."""

    cores: tuple[int, ...]
    providers: tuple[str, ...]
    nvidia_gpus: int
    system: str = platform.system()
    openvino_devices: tuple[str, ...] = ()


def usable_cores() -> tuple[int, ...]:
    """The CPU cores this process may run on, sorted.

    The process's affinity mask as it was at start (a thread that pinned itself since, such as
    a runner's worker, does not shrink it).
    """
    from carin_ros.engine.session import PROCESS_CORES
    return tuple(sorted(PROCESS_CORES))


def nvidia_gpu_count(init: Callable[[], None] | None = None,
                     count: Callable[[], int] | None = None) -> int:
    """Number of NVIDIA GPUs via NVML; 0 when NVML (the driver) is absent or fails."""
    try:
        if init is None or count is None:
            import pynvml
            init, count = pynvml.nvmlInit, pynvml.nvmlDeviceGetCount
        init()
        return int(count())
    except ImportError:
        return 0
    except Exception as exc:  # pynvml.NVMLError_LibraryNotFound and friends: no usable GPU
        log.debug('NVML unavailable, assuming no NVIDIA GPU: %s', exc)
        return 0


def openvino_devices() -> tuple[str, ...]:
    """OpenVINO device names (``CPU``, ``GPU.0``, ``NPU``) when the OpenVINO build is installed."""
    try:
        from onnxruntime.capi import _pybind_state as state
        return tuple(state.get_available_openvino_device_ids())
    except Exception:  # not an OpenVINO build of onnxruntime
        pass
    try:
        import openvino
        return tuple(openvino.Core().available_devices)
    except Exception:
        return ('CPU',)


def probe_host() -> Host:
    """Look at the real machine: affinity mask, onnxruntime providers, NVML device count."""
    import onnxruntime as ort
    providers = tuple(ort.get_available_providers())
    gpus = nvidia_gpu_count() if (CUDA in providers or TENSORRT in providers) else 0
    ov = openvino_devices() if OPENVINO in providers else ()
    return Host(cores=usable_cores(), providers=providers, nvidia_gpus=gpus,
                openvino_devices=ov)


# -- processor builders -------------------------------------------------------------------------
def cpu_core(core: int) -> Processor:
    """One intra-op thread pinned to ``core``: name ``cpu<core>``."""
    return Processor(f'cpu{core}', CPU, threads=1, cores=(core,))


def cpu_all(cores: Sequence[int]) -> Processor:
    """One intra-op thread per core over all ``cores``: name ``cpu``."""
    return Processor('cpu', CPU, threads=max(1, len(cores)), cores=tuple(cores))


def cuda(device_id: int = 0, *, gpu_mem_limit_mb: int | None = None,
         arena_extend_strategy: str = 'kSameAsRequested', conv_algo_search: str = 'HEURISTIC',
         cuda_graph: bool = False) -> Processor:
    """The CUDA EP on GPU ``device_id`` (name ``cuda<i>``).

    ``kSameAsRequested`` keeps the arena from doubling (several DNNs share one GPU);
    ``HEURISTIC`` avoids the long first-run cuDNN search that would stall a hot swap.
    """
    if arena_extend_strategy not in ('kNextPowerOfTwo', 'kSameAsRequested'):
        raise ValueError(f'cuda: arena_extend_strategy {arena_extend_strategy!r} is not '
                         f'kNextPowerOfTwo or kSameAsRequested')
    if conv_algo_search not in ('EXHAUSTIVE', 'HEURISTIC', 'DEFAULT'):
        raise ValueError(f'cuda: conv_algo_search {conv_algo_search!r} is not EXHAUSTIVE, '
                         f'HEURISTIC or DEFAULT')
    options = {'arena_extend_strategy': arena_extend_strategy,
               'cudnn_conv_algo_search': conv_algo_search,
               'do_copy_in_default_stream': '1',
               'enable_cuda_graph': '1' if cuda_graph else '0'}
    if gpu_mem_limit_mb is not None:
        if gpu_mem_limit_mb <= 0:
            raise ValueError(f'cuda: gpu_mem_limit_mb must be > 0, got {gpu_mem_limit_mb}')
        options['gpu_mem_limit'] = str(int(gpu_mem_limit_mb) * 2**20)
    return Processor(f'cuda{device_id}', CUDA, threads=1, device_id=device_id,
                     options=tuple(options.items()))


def tensorrt(device_id: int = 0, *, fp16: bool = True, int8: bool = False,
             cache_dir: str = DEFAULT_TRT_CACHE, workspace_mb: int = 1024,
             name: str | None = None) -> Processor:
    """The TensorRT EP on GPU ``device_id`` (name ``trt<i>``), with an engine cache.

    ``fp16`` lets TensorRT pick half-precision kernels; ``int8`` is needed for QDQ (explicitly
    quantised) models to run as int8. The engine and timing caches live in ``cache_dir`` so a
    design built once is not rebuilt (minutes on a Jetson) at the next switch.
    """
    if workspace_mb <= 0:
        raise ValueError(f'tensorrt: workspace_mb must be > 0, got {workspace_mb}')
    options = {'trt_fp16_enable': _flag(fp16), 'trt_int8_enable': _flag(int8),
               'trt_engine_cache_enable': 'True', 'trt_engine_cache_path': cache_dir,
               'trt_timing_cache_enable': 'True', 'trt_timing_cache_path': cache_dir,
               'trt_max_workspace_size': str(int(workspace_mb) * 2**20)}
    return Processor(name or f'trt{device_id}', TENSORRT, threads=1, device_id=device_id,
                     options=tuple(options.items()))


def _flag(value: bool) -> str:
    return 'True' if value else 'False'


def discover(host: Host | None = None, *, per_core: bool = True,
             trt_cache_dir: str = DEFAULT_TRT_CACHE) -> tuple[Processor, ...]:
    """Every processor this host offers, CPU ones first.

    ``cpu<i>`` per usable core (when ``per_core`` and more than one core) and ``cpu`` over all
    of them; ``cuda<i>``/``trt<i>`` per NVIDIA GPU when the provider is compiled in; ``xnnpack``,
    ``openvino_<device>``, ``coreml``, ``qnn_htp``, ``dml0`` when their provider is present on a
    platform where their device exists.
    """
    host = host or probe_host()
    if not host.cores:
        raise ValueError('no usable CPU cores in the affinity mask')
    procs: list[Processor] = []
    if per_core and len(host.cores) > 1:
        procs += [cpu_core(c) for c in host.cores]
    procs.append(cpu_all(host.cores))
    available = set(host.providers)
    if XNNPACK in available:
        procs.append(Processor('xnnpack', XNNPACK, threads=1, options=(
            ('intra_op_num_threads', str(len(host.cores))),)))
    if OPENVINO in available:
        for dev in host.openvino_devices or ('CPU',):
            procs.append(Processor(f'openvino_{dev.lower().replace(".", "")}', OPENVINO,
                                   threads=1, options=(('device_type', dev),)))
    for i in range(host.nvidia_gpus):
        if CUDA in available:
            procs.append(cuda(i))
        if TENSORRT in available:
            procs.append(tensorrt(i, cache_dir=trt_cache_dir))
    if COREML in available and host.system == 'Darwin':
        procs.append(Processor('coreml', COREML, threads=1,
                               options=(('MLComputeUnits', 'ALL'),)))
    if QNN in available:
        lib = 'QnnHtp.dll' if host.system == 'Windows' else 'libQnnHtp.so'
        procs.append(Processor('qnn_htp', QNN, threads=1, options=(
            ('backend_path', lib), ('htp_performance_mode', 'burst'))))
    if DIRECTML in available and host.system == 'Windows':
        procs.append(Processor('dml0', DIRECTML, threads=1, device_id=0))
    return tuple(procs)


def unavailable_reason(processor: Processor, host: Host) -> str | None:
    """Why ``processor`` cannot run on ``host`` (None when it can)."""
    if processor.provider not in host.providers:
        return (f'{processor.provider} is not in this onnxruntime build '
                f'(available: {", ".join(host.providers)})')
    if processor.is_cpu or processor.provider == XNNPACK:
        missing = sorted(set(processor.cores) - set(host.cores))
        if missing:
            return f'cores {missing} are not in this process\'s affinity mask {list(host.cores)}'
    if processor.provider in (CUDA, TENSORRT):
        dev = processor.device_id or 0
        if dev >= host.nvidia_gpus:
            return f'GPU {dev} not present ({host.nvidia_gpus} NVIDIA GPU(s) found via NVML)'
    return None


# -- provider options ---------------------------------------------------------------------------
def provider_options(processor: Processor) -> dict[str, str]:
    """The provider options ORT gets for ``processor`` (its options plus ``device_id``)."""
    options = dict(processor.options)
    if processor.device_id is not None and processor.provider in (CUDA, TENSORRT, DIRECTML):
        options.setdefault('device_id', str(processor.device_id))
    if processor.provider == TENSORRT and options.get('trt_engine_cache_enable') == 'True':
        path = options.get('trt_engine_cache_path')
        if path:
            os.makedirs(path, exist_ok=True)
    return options


def provider_chain(processor: Processor) -> list[str | tuple[str, dict[str, str]]]:
    """The ``providers`` list for InferenceSession: the processor's EP, then its fallbacks.

    TensorRT falls back to CUDA on the same device for nodes TensorRT cannot take, then to
    the CPU; every other accelerator falls back to the CPU.
    """
    if processor.is_cpu:
        return [CPU]
    chain: list[str | tuple[str, dict[str, str]]] = [
        (processor.provider, provider_options(processor))]
    if processor.provider == TENSORRT:
        cuda_opts = {'device_id': str(processor.device_id or 0)}
        chain.append((CUDA, cuda_opts))
    chain.append(CPU)
    return chain


# -- config override ----------------------------------------------------------------------------
def load_processors(path: str | os.PathLike) -> tuple[Processor, ...]:
    """Processors from a YAML file: a list of Processor dicts, or ``{processors: [...]}``."""
    path = os.fspath(path)
    try:
        with open(path, encoding='utf-8') as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ProcessorConfigError(f'{path}: cannot read processor list: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ProcessorConfigError(f'{path}: malformed YAML: {exc}') from exc
    return parse_processors(data, source=path)


def parse_processors(data: object, source: str = '<config>') -> tuple[Processor, ...]:
    if isinstance(data, Mapping):
        if set(data) != {'processors'}:
            raise ProcessorConfigError(f'{source}: expected a list or a mapping with only '
                                       f'"processors", got keys {sorted(map(str, data))}')
        data = data['processors']
    if not isinstance(data, list) or not data:
        raise ProcessorConfigError(f'{source}: processors must be a non-empty list')
    out: list[Processor] = []
    for i, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise ProcessorConfigError(f'{source}: processors[{i}] must be a mapping')
        try:
            out.append(Processor.from_dict(item))
        except (TypeError, ValueError) as exc:
            raise ProcessorConfigError(f'{source}: processors[{i}]: {exc}') from exc
    names = [p.name for p in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ProcessorConfigError(f'{source}: duplicate processor names {dup}')
    return tuple(out)


def select(processors: Iterable[Processor], names: Iterable[str] | None) -> tuple[Processor, ...]:
    """The processors named in ``names`` (all when None), in that order; clear error if unknown."""
    procs = tuple(processors)
    if names is None:
        return procs
    by_name = {p.name: p for p in procs}
    out = []
    for n in names:
        if n not in by_name:
            raise KeyError(f'unknown processor {n!r} (available: {", ".join(by_name)})')
        out.append(by_name[n])
    return tuple(out)


def available_processors(override: str | os.PathLike | None = None,
                         host: Host | None = None) -> tuple[Processor, ...]:
    """Discovered processors, or the override file's ones that this host can run.

    Override entries the host cannot run are dropped with a warning naming the reason.
    """
    host = host or probe_host()
    if override is None:
        return discover(host)
    procs = []
    for p in load_processors(override):
        reason = unavailable_reason(p, host)
        if reason:
            log.warning('%s: processor %s skipped: %s', os.fspath(override), p.name, reason)
        else:
            procs.append(p)
    if not procs:
        raise ProcessorConfigError(f'{os.fspath(override)}: none of the processors can run here')
    return tuple(procs)
