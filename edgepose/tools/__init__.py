"""Tools around the daemon, not part of it: benchmark, evaluation, the live terminal view, doctor.

Nothing under :mod:`edgepose.pipeline` or :mod:`edgepose.service` imports from here.
"""
