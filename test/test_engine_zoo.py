"""Runner and profiler on the real zoo's smallest variants (needs `make models`)."""
import io
import os
import time

import pytest
import yaml

from carin_ros.core.profiles import ProfileDB
from carin_ros.core.space import Design, Precision, Processor
from carin_ros.engine.runner import SwitchableRunner, SwitchStatus, zoo_factory
from carin_ros.profiler.measure import Settings
from carin_ros.profiler.profile import ProfileRequest, run_profile
from carin_ros.profiler.source import ZooSource, zoo_spec
from carin_ros.zoo.manifest import MANIFEST_NAME, Zoo, default_model_dir

MODEL_DIR = default_model_dir()
pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(MODEL_DIR, MANIFEST_NAME)),
                                reason=f'zoo not built in {MODEL_DIR} (make models)')
CORES = sorted(os.sched_getaffinity(0))
PROCS = [Processor(f'cpu{c}', cores=(c,)) for c in CORES]


@pytest.fixture(scope='module')
def zoo():
    return Zoo.load(MODEL_DIR)


def smallest(zoo, kind, precision=None):
    task = next(t for t in zoo.tasks if zoo.kind(t) == kind)
    vs = [v for v in zoo.variants(task) if precision is None or v.precision == precision]
    return task, min(vs, key=lambda v: v.size_mb).name


def test_runner_serves_and_switches_real_image_pipelines(zoo):
    from carin_ros.zoo.accuracy import sample_inputs
    task, fp32 = smallest(zoo, 'image_classification', Precision.FP32)
    _, int8 = smallest(zoo, 'image_classification', Precision.INT8)
    image = sample_inputs(task, 1, zoo=zoo)[0]
    with SwitchableRunner(task, zoo_factory(zoo), PROCS, Design(task, fp32, PROCS[0].name),
                          warmup_runs=1) as r:
        first = r.infer(image)
        assert first.prediction.task == task and first.prediction.label
        assert len(first.prediction.top_k) >= 1
        target = Design(task, int8, PROCS[-1].name)
        fut = r.switch(target)
        served = 0
        while not fut.done():  # keeps serving the fp32 design while int8 builds
            assert r.infer(image, timeout=30).design.variant in (fp32, int8)
            served += 1
        assert fut.result().status == SwitchStatus.SWITCHED and served > 0
        second = r.infer(image)
        assert second.design == target
        # the quantised model sees the same picture: its top-5 includes fp32's top-1
        assert first.prediction.label in {label for label, _ in second.prediction.top_k}


def test_runner_serves_real_text_pipeline(zoo):
    task, name = smallest(zoo, 'text_classification')
    with SwitchableRunner(task, zoo_factory(zoo), PROCS, Design(task, name, PROCS[0].name),
                          warmup_runs=1) as r:
        res = r.infer('please stop the robot now')
        assert res.prediction.task == task and 0.0 <= res.prediction.score <= 1.0


def test_quick_profile_of_smallest_variants(zoo, tmp_path):
    img, img_v = smallest(zoo, 'image_classification')
    txt, txt_v = smallest(zoo, 'text_classification')
    out = str(tmp_path / 'dev.yaml')
    req = ProfileRequest(zoo_spec(MODEL_DIR), out, (PROCS[0],), tasks=(img, txt),
                         variants=(img_v, txt_v),
                         settings=Settings(warmup=2, runs=5, samples=3, timeout_s=300),
                         quick=True, coruns=False)  # co-runs: test_profiler_cli, tiny models
    start = time.monotonic()
    err = io.StringIO()
    report = run_profile(req, stream=err)
    assert not report.failed, report.failed
    db = ProfileDB.load(out)
    assert set(db.entries) == {Design(img, img_v, PROCS[0].name),
                               Design(txt, txt_v, PROCS[0].name)}
    source = ZooSource(MODEL_DIR)
    for d, m in db.entries.items():
        assert m.size_mb == pytest.approx(source.size_mb(d.task, d.variant))
        assert m.latency_p50_ms > 0 and m.memory_mb > 0 and 0 < m.accuracy <= 1
    assert db.meta['accuracy'][f'{img}/{img_v}']['n'] > 0
    assert db.zoo_version == zoo.version
    assert 'eta' in err.getvalue()
    with open(out, encoding='utf-8') as f:
        assert yaml.safe_load(f)['schema_version'] == 1
    assert time.monotonic() - start < 180
