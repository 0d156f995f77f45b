"""The benchmark (``make bench``): synthetic snapshots of three sizes, each stage timed."""
