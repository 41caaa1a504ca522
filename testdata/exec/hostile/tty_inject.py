# Tries to type a command into the engine's terminal: opens /dev/tty and
# every /dev/pts/* it can see, and calls TIOCSTI (and TIOCLINUX) on those
# and on every descriptor 0-1024. Reports each attempt that did not fail.
import fcntl, os, termios
cmd = "touch /tmp/%s-tty\n" % input["marker"]
worked = []
fds = list(range(0, 1025))
for path in ["/dev/tty", "/dev/console", "/dev/ptmx"] + ["/dev/pts/" + p for p in (os.listdir("/dev/pts") if os.path.isdir("/dev/pts") else [])]:
    try:
        fds.append(os.open(path, os.O_RDWR | os.O_NOCTTY))
        worked.append("open " + path)
    except OSError:
        pass
for fd in fds:
    for ch in cmd:
        try:
            fcntl.ioctl(fd, termios.TIOCSTI, ch.encode())
        except OSError:
            break
    else:
        worked.append("TIOCSTI %d" % fd)
    try:
        fcntl.ioctl(fd, 0x541C, b"\x06")  # TIOCLINUX
        worked.append("TIOCLINUX %d" % fd)
    except OSError:
        pass
output = {"worked": worked}
