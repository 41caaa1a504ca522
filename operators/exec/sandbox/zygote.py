# The caco exec zygote: a warm Python interpreter that forks one child per
# program. It is started by the sandbox (see sandbox.go) as
#
#     python -s -B -c <this file> <config JSON>
#
# and speaks length-prefixed frames: it reads requests on fd 0 and answers on
# fd 1. In isolated mode it runs as pid 1 of the worker's pid namespace, root
# of the worker's user namespace; programs run as an unprivileged uid, so they
# can neither signal nor trace it, and after each program it kills every
# other process of the namespace (kill(-1, SIGKILL)) and reaps them all before
# it answers.
import ast
import builtins
import gc
import json
import os
import random
import resource
import select
import signal
import struct
import sys
import time
import traceback

CFG = json.loads(sys.argv[1])
ISOLATED = CFG["isolated"]
TMP = CFG["tmp"]
UID = CFG.get("uid", 0)
GID = CFG.get("gid", 0)
TIMEOUT = CFG["timeout"]
MAX_STDOUT = CFG["max_stdout"]
MAX_RESULT = CFG["max_result"]
MAX_DIGITS = CFG["max_digits"]
INT_DIGITS = CFG["int_max_str_digits"]

# Keep the protocol away from fds 0 and 1 so that nothing printed by the
# zygote (or a library it loads) can corrupt it.
REQ = os.dup(0)
RESP = os.dup(1)
DEVNULL = os.open(os.devnull, os.O_RDWR)
os.dup2(DEVNULL, 0)
os.dup2(DEVNULL, 1)
for fd in (REQ, RESP, DEVNULL):
    os.set_inheritable(fd, False)

if ISOLATED:
    # Non-dumpable: no program, even one that shared the zygote's uid, can
    # open /proc/1/fd/* (the zygote's end of the engine's pipes) or
    # /proc/1/mem. Children inherit it until they exec.
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "making the zygote non-dumpable")

if not ISOLATED:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass

PRELOADED = []
for _name in CFG["preload"]:
    try:
        __import__(_name)
        PRELOADED.append(_name)
    except Exception:
        pass
_np = sys.modules.get("numpy")


def _warm():
    # Representative snippets, so that lazy imports and caches are filled
    # before the fork instead of in every child.
    snippets = [
        "from fractions import Fraction\nx = Fraction(3, 4) + Fraction(1, 6)\ny = str(x)",
        "import math, itertools\nx = math.comb(10, 3) + math.gcd(12, 18) + math.isqrt(99)\n"
        "y = list(itertools.permutations(range(4)))\nz = sum(math.sqrt(i) for i in range(10))",
        "import json\nx = json.dumps({'a': [1, 2.5, 'x', None, True]})\ny = json.loads(x)",
        "import collections, functools, re, decimal\nc = collections.Counter('abca')\n"
        "d = decimal.Decimal('1.5') * 2\nm = re.findall(r'\\d+', 'a1b22')",
    ]
    if "sympy" in PRELOADED:
        snippets.append(
            "import sympy as sp\nx, y = sp.symbols('x y')\n"
            "s = sp.solve(sp.Eq(x**2 - 5*x + 6, 0), x)\n"
            "e = sp.simplify(sp.sin(x)**2 + sp.cos(x)**2)\n"
            "f = sp.factor(x**3 - y**3)\ng = sp.integrate(x**2, (x, 0, 3))\n"
            "h = sp.Rational(3, 7) + sp.sqrt(8)\ni = sp.nsimplify(0.5)\nj = str(s) + str(g) + str(h)\n"
            "k = sp.expand((x + 1)**5)\nl = sp.isprime(97) and sp.factorint(360)\n"
            "m = sp.Matrix([[1, 2], [3, 4]]).det()\nn = sp.N(sp.pi, 20)\n"
        )
    if _np is not None:
        snippets.append(
            "import numpy as np\na = np.arange(12).reshape(3, 4)\nb = a @ a.T\n"
            "c = np.linalg.det(np.eye(3) * 2.0)\nd = float(np.mean(a))\ne = str(b)\n"
        )
    for s in snippets:
        try:
            tree = ast.parse(s)
            exec(compile(tree, "<warm>", "exec"), {"__name__": "__main__"})
        except Exception:
            pass
    try:
        _json_safe({"a": (1, [2.5, None]), 3: {4}})
        traceback.format_exception_only(ValueError("x"))
    except Exception:
        pass


# Programs run in a fork of this interpreter and may monkeypatch builtins or
# modules (json.dumps = None); the runner uses references taken now.
_isinstance = isinstance
_str = str
_float = float
_type = type
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_os_write = os.write
_os_exit = os._exit
_Name = ast.Name
_walk = ast.walk


def _json_safe(v):
    # The reference conversion: dict keys become strings, lists and tuples are
    # recursed, int/float/str/bool/None are kept, anything else is str(v).
    # Non-finite floats become their str, as JSON cannot hold them.
    if v is None or _isinstance(v, (bool, _str)):
        return v
    if _isinstance(v, int):
        return v
    if _isinstance(v, _float):
        if v != v or v in (_float("inf"), _float("-inf")):
            return _str(v)
        return v
    if _isinstance(v, dict):
        return {(k if _isinstance(k, _str) else _str(k)): _json_safe(x) for k, x in v.items()}
    if _isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return _str(v)


def _exc_info(e, tb):
    te = traceback.TracebackException(type(e), e, tb, compact=True)
    full = "".join(te.format())
    last = "".join(te.format_exception_only()).strip().splitlines()
    reason = last[-1] if last else type(e).__name__
    return reason, full


def _run_program(co, err, inp):
    """Runs in the forked child; returns the result dict. Everything in it
    comes from the program's own process, so the program can shape all of
    it: it is data (the values, an exception's text), never a verdict. The
    rules are applied by the engine from what the program cannot forge: the
    code text (names, sent before the program ran), the serialised bytes of
    the values and the exit status the zygote sees."""
    g = {"__name__": "__main__", "__builtins__": builtins}
    if inp is not None:
        g["input"] = json.loads(inp)
    res = {}
    if err is not None:
        res["status"] = "memory" if isinstance(err, MemoryError) else "exception"
        res["reason"], res["traceback"] = _exc_info(err, None)
        return res
    try:
        exec(co, g)
    except BaseException as e:
        res["status"] = "memory" if isinstance(e, MemoryError) else "exception"
        tb = e.__traceback__
        if tb is not None:
            tb = tb.tb_next  # drop this frame
        res["reason"], res["traceback"] = _exc_info(e, tb)
        return res
    try:
        try:
            sys.stdout.flush()
        except BaseException:
            pass
        res["status"] = "ok"
        if "input" in g:
            res["has_input"] = True
            res["input"] = _json_safe(g["input"])
        if "output" in g:
            res["has_output"] = True
            res["output"] = _json_safe(g["output"])
    except BaseException as e:
        res = {"status": "memory" if isinstance(e, MemoryError) else "exception"}
        res["reason"], res["traceback"] = _exc_info(e, e.__traceback__)
    return res


def _code_facts(code):
    """Parses and compiles the program before it runs, so that what it
    finds is trusted: the code object (or the error), and the facts of the
    code text the rules use: its identifiers (ast.Name), whether it binds
    `input` (an assignment, a loop or `global input`), and the string keys
    of the last module-level `input = {...}` literal."""
    facts = {"names": [], "binds_input": False, "input_keys": []}
    try:
        tree = ast.parse(code, "<code>")
        co = compile(tree, "<code>", "exec")
    except BaseException as e:
        return None, e, facts
    names = set()
    binds = False
    for n in _walk(tree):
        if _isinstance(n, _Name):
            names.add(n.id)
            if n.id == "input" and _isinstance(n.ctx, ast.Store):
                binds = True
        elif _isinstance(n, (ast.Global, ast.Nonlocal)) and "input" in n.names:
            binds = True
    keys = []
    for st in tree.body:
        if (
            _isinstance(st, ast.Assign)
            and any(_isinstance(t, _Name) and t.id == "input" for t in st.targets)
            and _isinstance(st.value, ast.Dict)
        ):
            keys = [k.value for k in st.value.keys if _isinstance(k, ast.Constant) and _isinstance(k.value, _str)]
    facts["names"] = sorted(names)
    facts["binds_input"] = binds
    facts["input_keys"] = keys
    return co, None, facts


def _child(reqr, outw, resw, factw):
    """A pre-forked child: sets itself up, then waits for its program."""
    me = os.getpid()
    try:
        os.dup2(outw, 1)
        os.dup2(DEVNULL, 0)
        os.dup2(DEVNULL, 2)
        os.dup2(resw, 3)
        os.dup2(reqr, 4)
        os.dup2(factw, 5)
        os.closerange(6, 1 << 20)
        if not ISOLATED:
            os.setsid()
        lim = CFG["limits"]
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        cpu = lim["cpu"]
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim["fsize"], lim["fsize"]))
        resource.setrlimit(resource.RLIMIT_NOFILE, (lim["nofile"], lim["nofile"]))
        try:
            # Under memory pressure the OOM killer takes the program, never
            # the zygote. (os.open, not open(): the io stack would touch, and
            # copy, far more of the zygote's pages.)
            fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
            try:
                os.write(fd, b"1000")
            finally:
                os.close(fd)
        except OSError:
            pass
        if ISOLATED:
            resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"], lim["nproc"]))
        if lim["memory"] > 0:
            resource.setrlimit(resource.RLIMIT_AS, (lim["memory"], lim["memory"]))
        os.chdir(TMP)
        random.seed()
        if _np is not None:
            _np.random.seed()
        if hasattr(sys, "set_int_max_str_digits"):
            sys.set_int_max_str_digits(INT_DIGITS)
        body = bytearray()
        while True:
            chunk = os.read(4, 1 << 16)
            if not chunk:
                break
            body += chunk
        os.close(4)
        if not body:
            _os_exit(0)  # the zygote is shutting down
        if ISOLATED:
            # Only now: a child waiting for its program is still the
            # zygote's, not the program's.
            os.setgroups([])
            os.setresgid(GID, GID, GID)
            os.setresuid(UID, UID, UID)
        # The request (see encodeRequest in worker.go): a flag byte (1: an
        # input follows the code), the code's length (4 bytes, big-endian),
        # the code, then the input's JSON text; all of it UTF-8.
        n = int.from_bytes(body[1:5], "big")
        code = body[5 : 5 + n].decode("utf-8")
        inp = body[5 + n :].decode("utf-8") if body[0] else None
        # The code's facts travel on fd 5, closed before the program runs:
        # nothing the program does can reach or forge them.
        co, err, facts = _code_facts(code)
        data = _dumps(facts).encode("utf-8", "backslashreplace")
        view = memoryview(data)
        while view:
            n = _os_write(5, view)
            view = view[n:]
        os.close(5)
    except BaseException as e:
        # Reported on fd 5, which only this trusted setup ever holds: a
        # program cannot claim a sandbox failure (its row would be retried).
        try:
            os.write(5, json.dumps({"setup_error": "setting up the program: %r" % (e,)}).encode())
        finally:
            os._exit(70)
    try:
        res = _run_program(co, err, inp)
    except BaseException as e:
        res = {"status": "exception", "reason": "the runner failed after the program: " + repr(e)[:500]}
    try:
        if os.getpid() != me:
            _os_exit(0)  # a process the program forked: it reports nothing
        try:
            # Non-ASCII stays UTF-8; a lone surrogate becomes a \uXXXX escape.
            data = _dumps(res).encode("utf-8", "backslashreplace")
        except BaseException as e:
            data = _dumps({"status": "exception", "reason": "encoding the result: " + repr(e)[:500]}).encode()
        try:
            sys.stdout.flush()
        except BaseException:
            pass
        view = memoryview(data)
        while view:
            n = _os_write(3, view)
            view = view[n:]
    finally:
        _os_exit(0)


def _children(pid):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def _kill_all(pid):
    if ISOLATED:
        # pid 1 of the namespace: every other process in it belongs to the
        # program. kill(-1) skips the caller.
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return
    # Unsafe mode: the program's session, then whatever was reparented to us
    # (we are a child subreaper), recursively.
    if pid > 0:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    todo = _children(os.getpid())
    seen = set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo.extend(_children(p))
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def _reap_all(pid):
    while True:
        _kill_all(pid)
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
        if not ISOLATED:
            return
        try:
            os.kill(-1, 0)
        except ProcessLookupError:
            return  # nothing left in the namespace
        except PermissionError:
            pass


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _empty_dir(top):
    """Removes everything in the directory open as top, like shutil.rmtree
    (which is not used: importing shutil pulls zlib, bz2 and lzma into the
    zygote, about 20 more mappings for every fork to copy), but without
    recursion: each sub-folder's own sub-folders are moved up to the top
    before it is removed, so no depth of tree can make it fail, and at most
    two folders are open at once. Raises OSError when a whole pass removes
    nothing (the worker is then replaced). Nothing else runs in the sandbox
    meanwhile."""
    global _moved
    while True:
        with os.scandir(top) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        if not entries:
            return
        progress = False
        for name, is_dir in entries:
            try:
                if not is_dir:
                    os.unlink(name, dir_fd=top)
                    progress = True
                    continue
                fd = os.open(name, _DIR_FLAGS, dir_fd=top)
                try:
                    with os.scandir(fd) as it:
                        sub = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
                    for sname, sdir in sub:
                        if sdir:
                            _moved += 1
                            os.rename(sname, ".caco-clean-%d" % _moved, src_dir_fd=fd, dst_dir_fd=top)
                        else:
                            os.unlink(sname, dir_fd=fd)
                finally:
                    os.close(fd)
                os.rmdir(name, dir_fd=top)
                progress = True
            except OSError:
                pass
        if not progress:
            raise OSError("cannot empty " + TMP)


_moved = 0


def _clean_tmp():
    fd = os.open(TMP, _DIR_FLAGS)
    try:
        _empty_dir(fd)
    finally:
        os.close(fd)
    if os.listdir(TMP):
        raise OSError("cannot empty " + TMP)


def _prepare_tmp():
    _clean_tmp()
    if ISOLATED:
        os.chown(TMP, UID, GID)
        os.chmod(TMP, 0o700)


def _prefork():
    """Forks the child for the next program ahead of its request, so that
    the fork and the child's setup overlap with the round trip to Go."""
    reqr, reqw = os.pipe()
    outr, outw = os.pipe()
    resr, resw = os.pipe()
    factr, factw = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            _child(reqr, outw, resw, factw)
        finally:
            os._exit(72)
    for fd in (reqr, outw, resw, factw):
        os.close(fd)
    return pid, reqw, outr, resr, factr


def _run_one(body, pre):
    pid, reqw, outr, resr, factr = pre
    timeout = TIMEOUT
    t0 = time.monotonic()
    try:
        view = memoryview(body)
        while view:
            n = os.write(reqw, view)
            view = view[n:]
    except OSError:
        pass  # the child died during its setup: its exit tells why
    os.close(reqw)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(outr, select.POLLIN)
    poller.register(resr, select.POLLIN)
    poller.register(factr, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    open_fds = {outr, resr, factr}
    out, outn, res, resn = [], 0, [], 0
    facts, factn = [], 0
    hdr = {"timeout": False, "output_limit": False, "result_limit": False}
    exited = False
    killed = False
    deadline = t0 + timeout
    elapsed = None
    while open_fds or not exited:
        if exited and not killed:
            _kill_all(pid)  # the program is done: its descendants go too
            killed = True
        wait = -1
        if not exited and not killed:
            left = deadline - time.monotonic()
            if left <= 0:
                hdr["timeout"] = True
                _kill_all(pid)
                killed = True
                deadline = float("inf")
                continue
            wait = int(left * 1000) + 1
        for fd, _ in poller.poll(wait):
            if fd == pidfd:
                _, st = os.waitpid(pid, 0)
                elapsed = time.monotonic() - t0
                exited = True
                poller.unregister(pidfd)
                if os.WIFSIGNALED(st):
                    hdr["signal"] = os.WTERMSIG(st)
                else:
                    hdr["exit"] = os.WEXITSTATUS(st)
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                poller.unregister(fd)
                open_fds.discard(fd)
                continue
            if fd == factr:
                if factn + len(data) > MAX_RESULT:
                    data = b""  # names of a huge code text: dropped
                facts.append(data)
                factn += len(data)
                continue
            if fd == outr:
                if outn + len(data) > MAX_STDOUT:
                    data = data[: MAX_STDOUT - outn]
                    if not hdr["output_limit"]:
                        hdr["output_limit"] = True
                        _kill_all(pid)
                out.append(data)
                outn += len(data)
            else:
                if resn + len(data) > MAX_RESULT:
                    data = data[: MAX_RESULT - resn]
                    if not hdr["result_limit"]:
                        hdr["result_limit"] = True
                        _kill_all(pid)
                res.append(data)
                resn += len(data)
    os.close(pidfd)
    os.close(outr)
    os.close(resr)
    os.close(factr)
    _reap_all(pid)
    try:
        _prepare_tmp()
    except BaseException as e:
        # The next program could see this one's files: this worker is done.
        hdr["retire"] = "cleaning up after the program: %r" % (e,)
    if elapsed is None:
        elapsed = time.monotonic() - t0
    hdr["ms"] = elapsed * 1000.0
    return hdr, b"".join(res), b"".join(out), b"".join(facts)


def _read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        b = os.read(REQ, n - len(buf))
        if not b:
            return None
        buf += b
    return bytes(buf)


def _write_all(data):
    view = memoryview(data)
    while view:
        n = os.write(RESP, view)
        view = view[n:]


def _send(*parts):
    _write_all(b"".join(struct.pack(">I", len(p)) + p for p in parts))


def _collapse():
    # Back the interpreter's heap with transparent huge pages (MADV_COLLAPSE,
    # Linux 6.1+): a fork then copies one entry per 2 MiB instead of 512, and
    # the child's exit frees as few. Children split only the pages they write.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        huge = 2 << 20
        with open("/proc/self/maps") as f:
            lines = f.read().splitlines()
        for line in lines:
            parts = line.split()
            path = parts[5] if len(parts) > 5 else ""
            if "w" not in parts[1] or (path and path != "[heap]"):
                continue
            lo, hi = (int(v, 16) for v in parts[0].split("-"))
            a = (lo + huge - 1) // huge * huge
            b = hi // huge * huge
            if b > a:
                libc.madvise(a, b - a, 14)  # MADV_HUGEPAGE
                libc.madvise(a, b - a, 25)  # MADV_COLLAPSE
    except Exception:
        pass


def main():
    # Inherited by every child (set here once rather than in each child,
    # where every Python-level step copies more of the zygote's pages): a
    # write past RLIMIT_FSIZE fails with EFBIG instead of killing the
    # program, and HOME and TMPDIR are the private temp dir.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.environ["HOME"] = TMP
    os.environ["TMPDIR"] = TMP
    _warm()
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    if CFG.get("hugepages"):
        _collapse()
    served = 0
    _prepare_tmp()
    pre = _prefork()
    _send(json.dumps({"ready": True, "preloaded": PRELOADED, "python": sys.version.split()[0]}).encode())
    while True:
        n = _read_exact(4)
        if n is None:
            return
        body = _read_exact(struct.unpack(">I", n)[0])
        if body is None:
            return
        served += 1
        try:
            if pre is None:
                pre = _prefork()
            hdr, res, out, facts = _run_one(body, pre)
        except BaseException as e:
            err = "zygote: " + "".join(traceback.format_exception(e))[-2000:]
            hdr, res, out, facts = {"error": err, "retire": err}, b"", b"", b""
        pre = None
        _send(json.dumps(hdr).encode(), res, out, facts)
        if hdr.get("retire"):
            # Its state is in doubt: the engine starts a fresh worker. As
            # pid 1 of the namespace, exiting kills whatever is left.
            return
        if CFG.get("hugepages") and served % 1000 == 0:
            _collapse()  # pages the zygote itself wrote were split
        try:
            pre = _prefork()
        except BaseException:
            pre = None  # retried with the next request

main()
