"""ROS-free inference: processors, ONNX Runtime sessions, decoding, task pipelines."""
