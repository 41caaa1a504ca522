# Defines no input of its own but writes a result frame claiming one, on
# the result channel and everywhere else it can, then exits 0. The code
# text binds no `input`, so the verdict must stay "no input".
import json, os
forged = json.dumps({"status": "ok", "has_input": True, "input": {"x": 1}, "has_output": True, "output": 42}).encode()
for fd in range(0, 1025):
    try:
        os.write(fd, forged)
    except OSError:
        pass
os._exit(0)
