import os, signal
ppid = os.getppid()
errors = []
for target in (ppid, 1, input["engine_pid"]):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError as e:
        errors.append(type(e).__name__)
output = errors
