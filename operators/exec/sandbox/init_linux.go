package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// The sandbox init is this binary re-executed with initEnv set (to its JSON
// config) and argv[0] set to initArg0.
const (
	initEnv  = "CACO_SANDBOX_INIT"
	initArg0 = "caco-sandbox-init"
)

// MaybeInit turns the process into the sandbox init when it was started as
// one, and returns at once otherwise. Call it first thing in every main()
// and in the TestMain of every package whose tests start a sandboxed Pool:
//
//	func main() { sandbox.MaybeInit(); ... }
//
// When it takes over, it never returns: it sets up the worker's mounts,
// hostname and seccomp filter and execs the Python zygote (exiting with
// status 111 and a message on stderr if any of that fails).
func MaybeInit() {
	cfg, ok := os.LookupEnv(initEnv)
	if !ok || len(os.Args) == 0 || os.Args[0] != initArg0 {
		return
	}
	err := runInit(cfg)
	fmt.Fprintf(os.Stderr, "caco sandbox init: %v\n", err)
	os.Exit(111)
}

func isolatedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | unix.CLONE_NEWCGROUP,
		UidMappings: []syscall.SysProcIDMap{
			{ContainerID: 0, HostID: os.Geteuid(), Size: 1},
			{ContainerID: programID, HostID: hostProgramID, Size: 1},
		},
		GidMappings: []syscall.SysProcIDMap{
			{ContainerID: 0, HostID: os.Getegid(), Size: 1},
			{ContainerID: programID, HostID: hostProgramID, Size: 1},
		},
		GidMappingsEnableSetgroups: true,
		Pdeathsig:                  syscall.SIGKILL,
	}
}

// checkSupport fails early, with a message saying what to do, when the
// sandbox cannot work here.
func checkSupport(o Options) error {
	if _, err := exec.LookPath(o.Python); err != nil {
		return fmt.Errorf("exec sandbox: python interpreter %q: %w", o.Python, err)
	}
	if o.Unsafe {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("exec sandbox: needs root to map the program uid into its user namespace " +
			"(running as uid " + strconv.Itoa(os.Geteuid()) + "); `sandbox: none` / --sandbox none runs programs " +
			"without isolation, which is unsafe")
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		return errors.New("exec sandbox: user namespaces are disabled (user.max_user_namespaces = 0); " +
			"`sandbox: none` / --sandbox none runs programs without isolation, which is unsafe")
	}
	return nil
}

func runInit(cfgJSON string) error {
	var cfg initConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("decoding config: %w", err)
	}
	os.Unsetenv(initEnv)
	// Nothing done here may propagate back to the host's mounts.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := readOnlyRoot(); err != nil {
		return err
	}
	for _, d := range cfg.Hide {
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY,
			"size=4k,mode=0755"); err != nil {
			return fmt.Errorf("hiding %s: %w", d, err)
		}
	}
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("size=%d,mode=0755,nr_inodes=65536", cfg.TmpSize)); err != nil {
		return fmt.Errorf("mounting the private /tmp: %w", err)
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_RDONLY,
		"size=1m,mode=0755"); err != nil {
		return fmt.Errorf("mounting an empty /dev/shm: %w", err)
	}
	// Writable so that each program can raise its own oom_score_adj (the
	// OOM killer then picks it, not the zygote); programs run without
	// capabilities and cannot write anything else there.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		"hidepid=2"); err != nil {
		return fmt.Errorf("mounting /proc for the sandbox's pid namespace: %w", err)
	}
	if err := unix.Sethostname([]byte("caco-sandbox")); err != nil {
		return fmt.Errorf("setting the hostname: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := loadSeccomp(); err != nil {
		return err
	}
	return syscall.Exec(cfg.Python, cfg.Args, cfg.Env)
}

// readOnlyRoot makes every mount read-only, recursively (mount_setattr,
// Linux 5.12+; older kernels get a remount of each mount point).
func readOnlyRoot() error {
	err := unix.MountSetattr(unix.AT_FDCWD, "/", unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("making the filesystem read-only: %w", err)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("making the filesystem read-only: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		mp := unescapeMount(f[4])
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		for _, o := range strings.Split(f[5], ",") {
			switch o {
			case "nosuid":
				flags |= unix.MS_NOSUID
			case "nodev":
				flags |= unix.MS_NODEV
			case "noexec":
				flags |= unix.MS_NOEXEC
			case "noatime":
				flags |= unix.MS_NOATIME
			case "nodiratime":
				flags |= unix.MS_NODIRATIME
			case "relatime":
				flags |= unix.MS_RELATIME
			}
		}
		if err := unix.Mount("", mp, "", flags, ""); err != nil && mp == "/" {
			return fmt.Errorf("making %s read-only: %w", mp, err)
		}
	}
	return nil
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// loadSeccomp installs the filter shared by the zygote and every program:
// no new namespaces, mounts, tracing, kernel keyrings, BPF, perf, module or
// reboot calls, and no SysV/POSIX message queues or shared memory (they
// would outlive a program inside the worker's IPC namespace). clone3 answers
// ENOSYS so that libc falls back to clone, whose flags can be checked.
func loadSeccomp() error {
	deny := []string{
		"unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount",
		"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
		"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
		"bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
		"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
		"swapon", "swapoff", "acct", "quotactl", "syslog", "open_by_handle_at", "name_to_handle_at",
		"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
		"iopl", "ioperm", "lookup_dcookie", "vhangup", "personality",
		"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semctl", "semtimedop",
		"msgget", "msgsnd", "msgrcv", "msgctl",
		"mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
		"io_uring_setup", "io_uring_enter", "io_uring_register",
	}
	var cloneNS []seccomp.NameWithConditions
	for _, flag := range []uint64{unix.CLONE_NEWUSER, unix.CLONE_NEWNS, unix.CLONE_NEWPID, unix.CLONE_NEWNET,
		unix.CLONE_NEWIPC, unix.CLONE_NEWUTS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWTIME} {
		cloneNS = append(cloneNS, seccomp.NameWithConditions{Name: "clone", Conditions: seccomp.ArgumentConditions{
			{Argument: 0, Operation: seccomp.BitsSet, Value: flag},
		}})
	}
	filter := seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionAllow,
			Syscalls: []seccomp.SyscallGroup{
				{Action: seccomp.ActionErrno, Names: deny},
				{Action: seccomp.ActionErrno, NamesWithCondtions: cloneNS},
				{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: []string{"clone3"}},
			},
		},
	}
	if err := seccomp.LoadFilter(filter); err != nil {
		return fmt.Errorf("installing the seccomp filter: %w", err)
	}
	return nil
}
