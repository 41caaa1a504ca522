import signal
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM, signal.SIGXCPU):
    signal.signal(s, signal.SIG_IGN)
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
