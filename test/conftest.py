"""Fixtures for the ROS tests: an isolated domain per session, the probe node, node graphs."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from ros_harness import Graph, Probe, ros_env, session_domain_id

DOMAIN_ID = session_domain_id()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Under `make test` (CARIN_REQUIRE_ZOO=1) a test skipped for want of the zoo fails."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get('CARIN_REQUIRE_ZOO') == '1' \
            and 'make models' in str(report.longrepr):
        report.outcome = 'failed'
        report.longrepr = f'the model zoo is required here (CARIN_REQUIRE_ZOO=1): ' \
                          f'{report.longrepr}'


@pytest.fixture(autouse=True)
def keep_cpu_affinity() -> Iterator[None]:
    """Fail a test that leaves the test process pinned (node processes would inherit it)."""
    before = os.sched_getaffinity(0)
    yield
    after = os.sched_getaffinity(0)
    if after != before:
        os.sched_setaffinity(0, before)
        pytest.fail(f'the test left the test process pinned to cores {sorted(after)} '
                    f'(was {sorted(before)})')


@pytest.fixture(scope='session')
def ros_probe() -> Iterator[Probe]:
    """rclpy in the test process, on this session's own domain, localhost only."""
    os.environ.update(ros_env(DOMAIN_ID))
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('carin_test_probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield Probe(node, executor)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


@pytest.fixture
def graph(ros_probe: Probe, tmp_path) -> Iterator[Graph]:
    """Node processes for one test, all killed at teardown (pass or fail)."""
    g = Graph(domain_id=DOMAIN_ID, workdir=str(tmp_path))
    ros_probe.graph = g
    try:
        yield g
    finally:
        ros_probe.graph = None
        g.close()
