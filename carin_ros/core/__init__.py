"""ROS-free decision logic: design space, profiles, SLOs, scoring, RASS, runtime policy."""
