"""The package builds the way ROS users build it (colcon) and the core stays ROS-free."""
import os
import pkgutil
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
NODES = ('task_node', 'resource_monitor', 'carin_manager', 'camera_sim', 'text_sim')
ROS_FREE = ('core', 'engine', 'zoo', 'profiler', 'monitor', 'cli')


@pytest.fixture(scope='module')
def colcon_ws(tmp_path_factory):
    colcon = os.path.join(BIN, 'colcon')
    if not os.path.exists(colcon):
        colcon = shutil.which('colcon')
    assert colcon, 'colcon is not installed (requirements/base.txt pins colcon-common-extensions)'
    ws = tmp_path_factory.mktemp('ws')
    (ws / 'src').mkdir()
    os.symlink(ROOT, ws / 'src' / 'carin_ros')
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    listed = subprocess.run([colcon, 'list'], cwd=ws, env=env, capture_output=True, text=True,
                            timeout=120)
    build = subprocess.run([colcon, 'build', '--event-handlers', 'console_direct-'], cwd=ws,
                           env=env, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    return ws, listed.stdout


def test_colcon_sees_an_ament_python_package(colcon_ws):
    _, listed = colcon_ws
    assert 'carin_ros' in listed and '(ros.ament_python)' in listed, listed


def test_share_directory_has_launch_and_config(colcon_ws):
    ws, _ = colcon_ws
    prefix = ws / 'install' / 'carin_ros'
    code = ('from ament_index_python.packages import get_package_share_directory as g;'
            'print(g("carin_ros"))')
    env = dict(os.environ, AMENT_PREFIX_PATH=str(prefix))
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    share = out.stdout.strip()
    assert os.path.samefile(share, prefix / 'share' / 'carin_ros')
    for rel in ('package.xml', 'launch/demo.launch.py', 'config/demo.yaml', 'models/zoo.yaml'):
        assert os.path.isfile(os.path.join(share, rel)), f'{rel} not installed in {share}'


def test_node_executables_where_ros2_run_finds_them(colcon_ws):
    ws, _ = colcon_ws
    lib = ws / 'install' / 'carin_ros' / 'lib' / 'carin_ros'
    for name in NODES + ('carin-solve', 'carin-profile', 'carin-zoo'):
        assert os.access(lib / name, os.X_OK), f'{name} missing from {lib}'


def test_ros_free_layers_never_import_rclpy():
    import carin_ros
    modules = []
    for layer in ROS_FREE:
        pkg = f'carin_ros.{layer}'
        path = os.path.join(os.path.dirname(carin_ros.__file__), layer)
        modules.append(pkg)
        modules += [m.name for m in pkgutil.walk_packages([path], prefix=pkg + '.')]
    code = ('import importlib, sys\n'
            f'for m in {modules!r}:\n'
            '    importlib.import_module(m)\n'
            'bad = sorted(k for k in sys.modules if k.split(".")[0] in '
            '("rclpy", "std_msgs", "sensor_msgs", "diagnostic_msgs", "rcl_interfaces"))\n'
            'print(",".join(bad))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '', f'ROS-free layers import ROS modules: {out.stdout}'
