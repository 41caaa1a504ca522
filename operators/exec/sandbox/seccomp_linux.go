package sandbox

import (
	"fmt"
	"unsafe"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The seccomp filter shared by the zygote and every program is an
// allow-list: a system call runs only when it is named below (with, for a
// few, the arguments it may take); everything else fails. The
// library compiles the policy for the native ABI only, so a call through
// another ABI (i386 `int 0x80`, x32) never matches and fails too: the
// default action covers every foreign architecture, and x32 numbers are
// refused before any rule. That closes the classic bypass of deny-lists.
//
// What is deliberately absent: namespaces (unshare, setns, clone with
// CLONE_NEW*), mounts and pivot_root, ptrace and process_vm_*, kcmp,
// pidfd_getfd, BPF, perf, userfaultfd, keyrings, modules, kexec, reboot,
// swap, acct, quotactl, syslog, handles (open_by_handle_at), clocks,
// host and domain names, iopl/ioperm, personality, io_uring, every SysV IPC
// call (shm*, sem*, msg*) and POSIX message queue (mq_*), memfd_secret,
// fanotify/inotify, and anything newer than this list. Refused calls fail with EPERM (clone3
// with ENOSYS, so that glibc falls back to clone). Sockets: only
// AF_UNIX, AF_INET and AF_INET6 (the network namespace is empty; netlink,
// packet and AF_VSOCK sockets are refused). ioctl: only the terminal and
// file queries Python makes (TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX,
// FIONCLEX, TIOCGPGRP); TIOCSTI and TIOCLINUX (typing into a terminal) are
// not among them. Argument checks compare all 64 bits, so a command number
// with high bits set (which the kernel would truncate) matches nothing and
// is refused.

// allowedSyscalls are allowed with any arguments. Frequent calls first (the
// filter is a linear program; the kernel also caches allow decisions that
// do not depend on arguments).
var allowedSyscalls = []string{
	"read", "write", "close", "newfstatat", "fstat", "lseek", "mmap", "munmap", "mprotect", "brk", "futex",
	"openat", "open", "getdents64", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "madvise", "mremap",
	"getrandom", "getpid", "gettid", "readlink", "readlinkat", "pread64", "pwrite64", "readv", "writev",
	"preadv", "pwritev", "preadv2", "pwritev2", "fcntl", "stat", "lstat", "statx", "access", "faccessat", "faccessat2",
	"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"pipe", "pipe2", "dup", "dup2", "dup3", "close_range",
	"exit", "exit_group", "wait4", "waitid", "kill", "tgkill", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
	"rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "sigaltstack", "pause", "restart_syscall",
	"fork", "vfork", "execve", "execveat", "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "arch_prctl",
	"prctl", "prlimit64", "getrlimit", "setrlimit", "getrusage", "sysinfo", "times", "uname",
	"nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
	"getitimer", "setitimer", "alarm", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "eventfd", "eventfd2", "signalfd", "signalfd4",
	"sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_getscheduler",
	"sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "sched_getattr", "getcpu",
	"getpriority", "setpriority", "membarrier", "mincore", "msync", "mlock", "munlock", "mlock2",
	"getuid", "getgid", "geteuid", "getegid", "getresuid", "getresgid", "getgroups", "setuid", "setgid",
	"setreuid", "setregid", "setresuid", "setresgid", "setgroups", "capget",
	"getppid", "getpgrp", "getpgid", "setpgid", "getsid", "setsid", "umask",
	"getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
	"link", "linkat", "symlink", "symlinkat", "creat", "truncate", "ftruncate", "fallocate", "fadvise64", "readahead",
	"chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "utime", "utimes", "utimensat", "futimesat",
	"fsync", "fdatasync", "sync_file_range", "flock", "statfs", "fstatfs", "getdents", "copy_file_range", "sendfile",
	"splice", "tee", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	"memfd_create", "pidfd_open", "pidfd_send_signal",
	"connect", "accept", "accept4", "bind", "listen", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	"shutdown", "getsockname", "getpeername", "setsockopt", "getsockopt",
}

// Terminal and file ioctls a program may make. TIOCSTI (0x5412) and
// TIOCLINUX (0x541C) are not among them.
var allowedIoctls = []uint64{
	unix.TCGETS, unix.TIOCGWINSZ, unix.TIOCGPGRP,
	0x541B, // FIONREAD
	0x5421, // FIONBIO
	0x5450, // FIONCLEX
	0x5451, // FIOCLEX
}

// allowedSocketDomains: the network namespace has only a loopback that is
// down, so these reach nothing outside the sandbox.
var allowedSocketDomains = []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6}

// cloneNamespaceFlags are the clone flags that create namespaces; clone is
// allowed only without them.
const cloneNamespaceFlags = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// Audit architecture values (linux/audit.h) and the x32 marker bit.
const (
	auditArchX86_64 = 0xC000003E
	x32SyscallBit   = 0x40000000
)

// Offsets in struct seccomp_data (little-endian).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

var (
	retAllow  = bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW}
	retEPERM  = bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)}
	retENOSYS = bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)}
)

// filterProgram compiles the policy above into a classic BPF program for
// x86_64. It is written here, not assembled by go-seccomp-bpf (whose
// syscall table it uses): that library does not reload the syscall number
// after a group with argument conditions, so every rule after such a
// group compares an argument with syscall numbers. Each rule is a short
// forward jump, so the program needs no long jumps.
func filterProgram() ([]bpf.Instruction, error) {
	info, err := arch.GetInfo("amd64")
	if err != nil {
		return nil, err
	}
	nr := func(name string) (uint32, error) {
		n, ok := info.SyscallNames[name]
		if !ok {
			return 0, fmt.Errorf("seccomp policy: unknown x86_64 system call %q", name)
		}
		return uint32(n), nil
	}
	argLo := func(i uint32) bpf.Instruction { return bpf.LoadAbsolute{Off: offArgs + 8*i, Size: 4} }
	argHi := func(i uint32) bpf.Instruction { return bpf.LoadAbsolute{Off: offArgs + 8*i + 4, Size: 4} }
	loadNr := bpf.LoadAbsolute{Off: offNr, Size: 4}
	prog := []bpf.Instruction{
		// Any other ABI (i386 via int 0x80, ...) is refused outright.
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX86_64, SkipTrue: 1},
		retEPERM,
		loadNr,
		// x32 calls share the x86_64 arch value and set this bit.
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1},
		retENOSYS,
	}
	// block adds "if nr == name { body }"; body must end in a return.
	block := func(name string, body ...bpf.Instruction) error {
		n, err := nr(name)
		if err != nil {
			return err
		}
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: n, SkipFalse: uint8(len(body))})
		prog = append(prog, body...)
		return nil
	}
	// oneOf: allow when argument i (all 64 bits) is one of vals.
	oneOf := func(i uint32, vals []uint64) []bpf.Instruction {
		body := []bpf.Instruction{argHi(i)}
		// High word must be zero (every allowed value fits in 32 bits).
		body = append(body, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: uint8(1 + 2*len(vals))})
		body = append(body, argLo(i))
		for _, v := range vals {
			body = append(body, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(v), SkipFalse: 1}, retAllow)
		}
		return append(body, retEPERM)
	}
	if err := block("clone3", retENOSYS); err != nil {
		return nil, err
	}
	if err := block("clone", argLo(0),
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: cloneNamespaceFlags, SkipTrue: 1},
		retAllow, retEPERM); err != nil {
		return nil, err
	}
	if err := block("ioctl", oneOf(1, allowedIoctls)...); err != nil {
		return nil, err
	}
	if err := block("socket", oneOf(0, allowedSocketDomains)...); err != nil {
		return nil, err
	}
	if err := block("socketpair", oneOf(0, []uint64{unix.AF_UNIX})...); err != nil {
		return nil, err
	}
	for _, name := range allowedSyscalls {
		if err := block(name, retAllow); err != nil {
			return nil, err
		}
	}
	return append(prog, retEPERM), nil
}

// loadSeccomp installs the filter on every thread of the process; it is
// inherited by everything the process execs and forks.
func loadSeccomp() error {
	prog, err := filterProgram()
	if err != nil {
		return err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("assembling the seccomp filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return fmt.Errorf("installing the seccomp filter: %w", errno)
	}
	return nil
}
