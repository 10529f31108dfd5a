"""Launch the carin_ros demo graph of config/demo.yaml: ``ros2 launch carin_ros demo.launch.py``.

Nodes, parameters, remappings and environment come from the same YAML that ``make demo``
(``python -m carin_ros.demo``) reads, so the two cannot drift apart. Launch arguments:
``config`` (the graph file) and ``slo`` (an SLO preset: a name from config/slo/, e.g.
``slo:=image_only``, or a path) for the manager. The CPU hog of ``make demo`` is not started
here: on a robot the load is real. launch/launch_ros are imported inside the functions so the
file can be parsed (and imported) where they are not installed.
"""
import os


def _slo_path(value: str) -> str:
    """A preset name (``image_only``) -> ``config/slo/image_only.yaml``; paths unchanged."""
    if os.sep in value or value.endswith(('.yaml', '.yml')):
        return value
    return os.path.join('config', 'slo', f'{value}.yaml')


def _nodes(context: object, *args: object, **kwargs: object) -> list:
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from carin_ros.demo.config import load
    config = load(LaunchConfiguration('config').perform(context))
    slo = LaunchConfiguration('slo').perform(context)
    if slo:
        config = config.with_slo(_slo_path(slo))
    return [Node(package='carin_ros', executable=spec.executable, name=spec.name,
                 parameters=[dict(spec.parameters)], remappings=list(spec.remappings),
                 additional_env={**config.environment, 'CARIN_ROLE': spec.name},
                 output='screen', emulate_tty=True)
            for spec in config.nodes]


def generate_launch_description() -> object:
    from ament_index_python.packages import get_package_share_directory
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchDescription

    share = get_package_share_directory('carin_ros')
    return LaunchDescription([
        DeclareLaunchArgument('config', default_value=os.path.join(share, 'config', 'demo.yaml'),
                              description='demo graph: nodes, parameters, remappings'),
        DeclareLaunchArgument('slo', default_value='',
                              description='SLO preset for carin_manager: a name in config/slo '
                                          '(image_only, image_text, multi_dnn) or a path; '
                                          'empty: the one in the graph file'),
        OpaqueFunction(function=_nodes),
    ])
