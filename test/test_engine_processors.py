"""Processor discovery with injected hosts, provider options, overrides, and real sessions."""
import os

import numpy as np
import onnxruntime as ort
import pytest
from engine_tiny import N_IN, build_model

from carin_ros.core.space import Processor
from carin_ros.engine import processors as P
from carin_ros.engine.session import ProcessorUnavailable, make_session, provider_spec


def host(cores=(0, 1), providers=(P.CPU,), gpus=0, system='Linux', ov=()):
    return P.Host(cores=tuple(cores), providers=tuple(providers), nvidia_gpus=gpus,
                  system=system, openvino_devices=tuple(ov))


def names(procs):
    return [p.name for p in procs]


def test_cpu_only_host():
    procs = P.discover(host())
    assert names(procs) == ['cpu0', 'cpu1', 'cpu']
    assert procs[0] == Processor('cpu0', cores=(0,)) and procs[2].threads == 2
    assert names(P.discover(host(cores=(3,)))) == ['cpu']
    assert P.discover(host(cores=(3,)))[0].cores == (3,)
    assert names(P.discover(host(cores=(0, 2, 5)), per_core=False)) == ['cpu']


def test_real_host_has_per_core_processors():
    procs = P.discover()
    cores = sorted(os.sched_getaffinity(0))
    want = [f'cpu{c}' for c in cores] if len(cores) > 1 else []
    assert names(procs)[:len(cores) + 1] == want + ['cpu']
    # this machine: the CPU wheel, and NVML absent -> no GPU processors
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        assert all(p.is_cpu for p in procs)


def test_gpu_processors_need_provider_and_device():
    gpu_build = (P.TENSORRT, P.CUDA, P.CPU)
    assert names(P.discover(host(providers=gpu_build, gpus=0))) == ['cpu0', 'cpu1', 'cpu']
    assert names(P.discover(host(providers=(P.CPU,), gpus=2))) == ['cpu0', 'cpu1', 'cpu']
    procs = P.discover(host(providers=gpu_build, gpus=2), trt_cache_dir='/tmp/c')
    assert names(procs)[3:] == ['cuda0', 'trt0', 'cuda1', 'trt1']
    trt1 = procs[-1]
    assert trt1.device_id == 1 and P.kind_of(trt1) == P.Kind.GPU
    assert dict(trt1.options)['trt_engine_cache_path'] == '/tmp/c'
    assert trt1.resources(2) == frozenset({f'{P.TENSORRT}:1'})


def test_other_providers_by_platform():
    provs = (P.CPU, P.XNNPACK, P.OPENVINO, P.COREML, P.QNN, P.DIRECTML)
    linux = names(P.discover(host(providers=provs, ov=('CPU', 'GPU.0'))))
    assert linux == ['cpu0', 'cpu1', 'cpu', 'xnnpack', 'openvino_cpu', 'openvino_gpu0',
                     'qnn_htp']
    mac = names(P.discover(host(providers=provs, system='Darwin')))
    assert 'coreml' in mac and 'dml0' not in mac
    win = P.discover(host(providers=provs, system='Windows'))
    assert 'dml0' in names(win)
    assert dict(P.select(win, ['qnn_htp'])[0].options)['backend_path'] == 'QnnHtp.dll'
    ov_gpu = P.select(P.discover(host(providers=provs, ov=('GPU.0',))), ['openvino_gpu0'])[0]
    assert P.kind_of(ov_gpu) == P.Kind.GPU


def test_nvml_count_and_failure():
    assert P.nvidia_gpu_count(lambda: None, lambda: 3) == 3

    def no_library():
        raise OSError('NVML Shared Library Not Found')
    assert P.nvidia_gpu_count(no_library, lambda: 3) == 0
    assert P.nvidia_gpu_count() >= 0  # real NVML: raises LibraryNotFound here -> 0


def test_cuda_and_tensorrt_options(tmp_path):
    c = P.cuda(1, gpu_mem_limit_mb=512)
    opts = P.provider_options(c)
    assert opts['device_id'] == '1' and opts['gpu_mem_limit'] == str(512 * 2**20)
    assert opts['arena_extend_strategy'] == 'kSameAsRequested'
    assert opts['cudnn_conv_algo_search'] == 'HEURISTIC'
    with pytest.raises(ValueError, match='arena_extend_strategy'):
        P.cuda(0, arena_extend_strategy='grow')
    with pytest.raises(ValueError, match='gpu_mem_limit_mb'):
        P.cuda(0, gpu_mem_limit_mb=0)
    cache = str(tmp_path / 'engines')
    t = P.tensorrt(0, fp16=True, int8=True, cache_dir=cache)
    chain = P.provider_chain(t)
    assert chain[0][0] == P.TENSORRT and chain[1] == (P.CUDA, {'device_id': '0'})
    assert chain[-1] == P.CPU
    topts = chain[0][1]
    assert topts['trt_fp16_enable'] == 'True' and topts['trt_int8_enable'] == 'True'
    assert topts['trt_engine_cache_enable'] == 'True' and topts['device_id'] == '0'
    assert os.path.isdir(cache)  # created so TensorRT can write engines there
    assert P.provider_chain(Processor('cpu0', cores=(0,))) == [P.CPU]


def test_gpu_processor_on_cpu_only_build_is_a_clear_error(tmp_path):
    if 'CUDAExecutionProvider' in ort.get_available_providers():
        pytest.skip('this onnxruntime has CUDA')
    with pytest.raises(ProcessorUnavailable, match='CUDAExecutionProvider is not in this'):
        provider_spec(P.cuda(0))
    path = build_model(str(tmp_path / 'm.onnx'))
    with pytest.raises(ProcessorUnavailable):
        make_session(path, P.tensorrt(0, cache_dir=str(tmp_path / 'c')))


def test_discovered_cpu_processors_run_a_real_model(tmp_path):
    path = build_model(str(tmp_path / 'm.onnx'))
    x = np.ones((1, N_IN), np.float32)
    outs = [make_session(path, p).run(None, {'x': x})[0] for p in P.discover()]
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=1e-5)


def test_override_file(tmp_path):
    good = tmp_path / 'procs.yaml'
    good.write_text('processors:\n  - {name: little, cores: [0]}\n'
                    '  - {name: gpu, provider: CUDAExecutionProvider, device_id: 0}\n')
    assert names(P.load_processors(good)) == ['little', 'gpu']
    avail = P.available_processors(good, host=host())
    assert names(avail) == ['little']  # CUDA missing on this host: dropped with a warning
    for text, reason in [('[]', 'non-empty list'), ('processors: 3', 'non-empty list'),
                         ('- {name: a, speed: 3}', r'processors\[0\]: .*unknown keys'),
                         ('- {cores: [0]}', r'processors\[0\]: .*"name"'),
                         ('- {name: a}\n- {name: a}', 'duplicate processor names'),
                         ('- [1]', r'processors\[0\] must be a mapping'),
                         ('{other: 1}', 'only "processors"'), ('a: [', 'malformed YAML')]:
        bad = tmp_path / 'bad.yaml'
        bad.write_text(text)
        with pytest.raises(P.ProcessorConfigError, match=reason) as info:
            P.load_processors(bad)
        assert str(bad) in str(info.value)
    with pytest.raises(P.ProcessorConfigError, match='cannot read'):
        P.load_processors(tmp_path / 'absent.yaml')
    none_here = tmp_path / 'none.yaml'
    none_here.write_text('- {name: far, cores: [63]}\n')
    with pytest.raises(P.ProcessorConfigError, match='none of the processors'):
        P.available_processors(none_here, host=host())


def test_select():
    procs = P.discover(host())
    assert names(P.select(procs, ['cpu', 'cpu0'])) == ['cpu', 'cpu0']
    assert P.select(procs, None) == procs
    with pytest.raises(KeyError, match='unknown processor'):
        P.select(procs, ['npu'])
