# Calls the kernel through the i386 ABI (int 0x80) and the x32 ABI from
# machine code mapped at run time: getpid, unshare(CLONE_NEWUSER), SysV
# shmget and a tmpfs mount. Each call runs in a forked child, which may die
# (a kernel without the i386 ABI answers int 0x80 with SIGSEGV); the result
# is the call's return value (negative: an errno) or the signal.
import ctypes, mmap, os, struct

def call(code):
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    return ctypes.CFUNCTYPE(ctypes.c_int)(addr)()

def i386(nr, a=0, b=0, c=0):
    # push rbx; mov eax, nr; mov ebx, a; mov ecx, b; mov edx, c; int 0x80; pop rbx; ret
    return call(b"\x53\xb8" + struct.pack("<I", nr) + b"\xbb" + struct.pack("<I", a) + b"\xb9" + struct.pack("<I", b)
                + b"\xba" + struct.pack("<I", c) + b"\xcd\x80\x5b\xc3")

def x32(nr, a=0, b=0, c=0):
    # mov eax, nr|x32 bit; mov edi, a; mov esi, b; mov edx, c; syscall; ret
    return call(b"\xb8" + struct.pack("<I", nr | 0x40000000) + b"\xbf" + struct.pack("<I", a) + b"\xbe" + struct.pack("<I", b)
                + b"\xba" + struct.pack("<I", c) + b"\x0f\x05\xc3")

def in_child(f, *args):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            v = f(*args)
            os.write(w, str(v).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st):
        return "signal %d" % os.WTERMSIG(st)
    return int(data) if data else "no answer"

CLONE_NEWUSER = 0x10000000
output = {
    "i386_getpid": in_child(i386, 20),
    "i386_unshare": in_child(i386, 310, CLONE_NEWUSER),
    "i386_shmget": in_child(i386, 395, 0, 4096, 0o1600),
    "i386_ipc_shmget": in_child(i386, 117, 23, 0, 4096),
    "x32_getpid": in_child(x32, 39),
    "x32_unshare": in_child(x32, 272, CLONE_NEWUSER),
    "x32_shmget": in_child(x32, 29, 0, 4096, 0o1600),
}
