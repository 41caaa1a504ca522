# Tries to forge its own verdict: writes a well-formed "ok" result frame
# (claiming an input whose keys all look used, and an output it chose) to
# every descriptor from 0 to 1024 and to every /proc/*/fd entry it can see,
# then leaves without running the rest. Its own input literal has a key the
# code never names, so the honest verdict is unused_input.
import json, os
input = {"n": 3, "never_named_key": 7}
forged = json.dumps({"status": "ok", "has_input": True, "input": {"n": 3}, "has_output": True, "output": "forged"}).encode()
for fd in range(0, 1025):
    try:
        os.write(fd, forged)
    except OSError:
        pass
for pid in os.listdir("/proc"):
    try:
        fds = os.listdir("/proc/%s/fd" % pid)
    except OSError:
        continue
    for fd in fds:
        try:
            f = os.open("/proc/%s/fd/%s" % (pid, fd), os.O_WRONLY | os.O_NONBLOCK)
            os.write(f, forged)
            os.close(f)
        except OSError:
            pass
os._exit(0)
