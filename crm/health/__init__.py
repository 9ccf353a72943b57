"""Engine heartbeat and the /healthz report."""
