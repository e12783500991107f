"""keepalived's runtime state: its processes, its dump files, its notify FIFO.

processes: which keepalived serves this netns, its children, pid files and TMPDIR.
dumps: signal for JSON/STATS/DATA dumps, read them safely, parse them into the model.
notify_fifo: keepalived's notify FIFO as typed events, without blocking the caller.
"""
