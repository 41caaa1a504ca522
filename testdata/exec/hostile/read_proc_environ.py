import os
found = {}
pids = [p for p in os.listdir("/proc") if p.isdigit()]
for p in pids + [str(input["engine_pid"]), "1", "self"]:
    try:
        with open("/proc/%s/environ" % p, "rb") as f:
            found[p] = f.read().decode("utf-8", "replace")
    except OSError as e:
        found[p] = "error: " + type(e).__name__
output = found
