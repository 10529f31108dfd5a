"""Where project files are: the source checkout, or the installed share/carin_ros."""
from __future__ import annotations

import os

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def share_dirs() -> list[str]:
    """Candidate roots holding config/, launch/, models/: checkout first, then share dirs."""
    roots = [os.environ.get('CARIN_ROS_ROOT', ''), _SOURCE_ROOT]
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            roots.append(os.path.join(prefix, 'share', 'carin_ros'))
    return [r for r in roots if r and os.path.isdir(r)]


def project_file(relative: str) -> str:
    """Absolute path of ``relative`` under the first root that has it; '' when none does."""
    if os.path.isabs(relative):
        return relative if os.path.exists(relative) else ''
    for root in share_dirs():
        path = os.path.join(root, relative)
        if os.path.exists(path):
            return path
    return ''
