# SysV shared memory, semaphores and message queues, and POSIX message
# queues, through libc: all must fail (they would outlive the program in
# the worker's IPC namespace).
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_CREAT = 0, 0o1000
res = {
    "shmget": libc.shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0o600),
    "semget": libc.semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600),
    "msgget": libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o600),
}
librt = ctypes.CDLL("librt.so.1", use_errno=True)
librt.mq_open.restype = ctypes.c_int
res["mq_open"] = librt.mq_open(b"/caco-hostile", 0o100 | 2, 0o600, None)
output = res
