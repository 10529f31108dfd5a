"""ament_python build of carin_ros (also a plain pip-installable package)."""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'carin_ros'


def tree(src):
    """data_files entries that install every file under ``src`` into share/<pkg>/<src>."""
    entries = {}
    for path in glob(os.path.join(src, '**', '*'), recursive=True):
        if os.path.isfile(path) and '/build/' not in path + '/' and '__pycache__' not in path:
            entries.setdefault(os.path.join('share', PACKAGE, os.path.dirname(path)), []).append(
                path)
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'bench', 'bench.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        *tree('launch'),
        *tree('config'),
        *tree('models'),
    ],
    install_requires=['setuptools', 'numpy', 'pyyaml', 'psutil', 'onnxruntime'],
    zip_safe=True,
    maintainer='carin_ros maintainers',
    maintainer_email='maintainers@carin-ros.dev',
    description='CARIn constraint-aware, responsive multi-DNN inference for ROS 2',
    license='Apache-2.0',
    extras_require={'test': ['pytest', 'hypothesis']},
    entry_points={
        'console_scripts': [
            'carin-solve = carin_ros.cli.solve:main',
            'carin-profile = carin_ros.profiler.cli:main',
            'carin-zoo = carin_ros.zoo.cli:main',
            'task_node = carin_ros.nodes.task_node:main',
            'resource_monitor = carin_ros.nodes.resource_monitor:main',
            'carin_manager = carin_ros.nodes.manager:main',
            'camera_sim = carin_ros.nodes.camera_sim:main',
            'text_sim = carin_ros.nodes.text_sim:main',
        ],
    },
)
