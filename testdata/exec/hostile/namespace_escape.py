import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
res = {}
res["unshare_user"] = libc.unshare(0x10000000)
res["unshare_net"] = libc.unshare(0x40000000)
res["mount"] = libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)
res["ptrace"] = libc.ptrace(16, 1, 0, 0)
res["uid"] = os.getuid()
output = res
