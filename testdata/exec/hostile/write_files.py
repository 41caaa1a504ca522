import os
m = input["marker"]
targets = [
    "/tmp/" + m,
    os.path.join("..", m),
    os.path.join(input["cwd_parent"], m),
    os.path.join(os.environ.get("HOME", "/tmp"), m + "-home"),
    os.path.join(input["home"], m),
    "/" + m,
    "/dev/shm/" + m,
    "/var/tmp/" + m,
]
written = []
for t in targets:
    try:
        with open(t, "w") as f:
            f.write("pwned")
        written.append(t)
    except OSError:
        pass
output = written
