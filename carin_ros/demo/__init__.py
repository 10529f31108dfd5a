"""The demo: the graph of config/demo.yaml as processes, a live table, a CPU hog midway."""
