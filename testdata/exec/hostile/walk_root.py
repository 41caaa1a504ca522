# Describes the file system it sees: every mount point, the top level, and
# everything under /dev, /etc (one level), /sys and /tmp; tries to read
# the engine's recipe (its path is in the input) and to list the engine's
# working directory. The test compares the view with a checked-in
# allow-list.
import os
view = {"mounts": [], "entries": [], "secrets": []}
with open("/proc/self/mountinfo") as f:
    view["mounts"] = sorted({line.split()[4] for line in f})
def ls(d, deep):
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return
    for n in names:
        p = os.path.join(d, n)
        kind = "l" if os.path.islink(p) else "d" if os.path.isdir(p) else "f"
        view["entries"].append(kind + " " + p)
        if deep and kind == "d":
            ls(p, deep)
ls("/", False)
ls("/dev", True)
ls("/etc", False)
ls("/sys", True)
ls("/tmp", True)
for p in (input["recipe"], input["cwd"], input["home"], "/root", "/home", "/run", "/var"):
    try:
        if os.path.isdir(p):
            view["secrets"].append([p, os.listdir(p)])
        else:
            with open(p) as f:
                view["secrets"].append([p, f.read()])
    except OSError:
        pass
output = view
