"""``python -m carin_ros.demo --config config/demo.yaml``: see :mod:`carin_ros.demo.run`."""
import sys

from carin_ros.demo.run import main

sys.exit(main())
