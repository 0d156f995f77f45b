"""Active probes: the in-pod agent, the DaemonSet that runs it, endpoint probes."""
