# Builds a 3,000-deep directory tree in /tmp (deeper than Python's
# recursion limit and PATH_MAX), with a file at the bottom: the cleanup
# after this program must still empty /tmp, and the worker keep working.
import os
os.chdir("/tmp")
for i in range(3000):
    os.mkdir("d")
    os.chdir("d")
with open("bottom.txt", "w") as f:
    f.write("left for the next program")
os.chmod(".", 0o500)
output = "built"
