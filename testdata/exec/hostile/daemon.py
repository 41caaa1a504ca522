import os, time
m = input["marker"]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(3)
        for d in ("/tmp", input["home"], input["cwd_parent"]):
            try:
                open(os.path.join(d, m + "-daemon"), "w").write("alive")
            except OSError:
                pass
        os._exit(0)
    os._exit(0)
output = "spawned"
