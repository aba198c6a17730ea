"""The GPU check: one command of at most nine minutes on one GPU, its report in docs/gpu.md (see __main__.py)."""
