"""carin_ros: CARIn constraint-aware, responsive multi-DNN inference for ROS 2."""
__version__ = '0.1.0'
