"""Design space and profile database basics."""
import pytest

from carin_ros.core.profiles import Metrics, ProfileDB, ProfileError
from carin_ros.core.space import Design, DesignSpace, JointDesign, Precision, Processor, Variant


def metrics(lat=10.0, acc=0.7):
    return Metrics(accuracy=acc, latency_mean_ms=lat, latency_std_ms=1.0, latency_p50_ms=lat,
                   latency_p90_ms=lat * 1.1, latency_p99_ms=lat * 1.3,
                   throughput_fps=1000.0 / lat, memory_mb=50.0, size_mb=5.0)


def small_db():
    procs = [Processor('cpu0', cores=(0,)), Processor('cpu1', cores=(1,)),
             Processor('cpu', threads=2, cores=(0, 1))]
    variants = [Variant('img', 'a_fp32', 'a', Precision.FP32),
                Variant('img', 'a_int8', 'a', Precision.INT8),
                Variant('txt', 't_fp32', 't', 'fp32')]
    db = ProfileDB('test', procs, variants, n_cores=2)
    for v in variants:
        for p in procs:
            db.add(Design(v.task, v.name, p.name), metrics())
    return db


def test_joint_space_size_and_iteration():
    space = small_db().design_space()
    assert space.size == (2 * 3) * (1 * 3)
    joints = list(space)
    assert len(joints) == space.size and len(set(joints)) == space.size


def test_design_key_roundtrip_and_errors():
    d = Design('img', 'a_int8', 'cpu0')
    assert Design.parse('img', d.key) == d
    for bad in ('a_int8', '@cpu0', 'a_int8@'):
        with pytest.raises(ValueError):
            Design.parse('img', bad)
    with pytest.raises(ValueError):
        JointDesign((d, Design('img', 'a_fp32', 'cpu1')))


def test_processor_resources():
    assert Processor('cpu', threads=2).resources(2) == {'cpu:0', 'cpu:1'}
    assert Processor('cpu1', cores=(1,)).resources(2) == {'cpu:1'}
    gpu = Processor('cuda0', provider='CUDAExecutionProvider', device_id=0)
    assert gpu.resources(2) == {'CUDAExecutionProvider:0'}
    with pytest.raises(ValueError):
        Processor('x', threads=0)


def test_profile_yaml_roundtrip(tmp_path):
    db = small_db()
    path = tmp_path / 'p.yaml'
    db.save(path)
    back = ProfileDB.load(path)
    assert back.entries == db.entries and back.processors == db.processors
    assert back.variants == db.variants


@pytest.mark.parametrize('text, needle', [
    ('{', 'malformed YAML'),
    ('[]', 'top level'),
    ('schema_version: 99\ndevice: x', 'schema_version'),
    ('schema_version: 1\ndevice: x\nbogus: 1', 'unknown keys'),
    ('schema_version: 1\ndevice: x\nprocessors: [{name: cpu0, threads: 0}]', 'processors[0]'),
    ('schema_version: 1\ndevice: x\nprofiles: [{task: a, variant: b, processor: c}]',
     'profiles[0]'),
])
def test_profile_errors_name_file_and_field(tmp_path, text, needle):
    path = tmp_path / 'bad.yaml'
    path.write_text(text)
    with pytest.raises(ProfileError) as info:
        ProfileDB.load(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_design_space_rejects_empty():
    with pytest.raises(ValueError):
        DesignSpace(tasks=('img',), variants={}, processors=(Processor('cpu0'),))
