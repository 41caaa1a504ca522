package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

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
		// A session of its own: no controlling terminal, so no program can
		// open /dev/tty or signal the engine's terminal.
		Setsid: true,
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
	if err := buildRoot(cfg); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("caco-sandbox")); err != nil {
		return fmt.Errorf("setting the hostname: %w", err)
	}
	if err := loadSeccomp(); err != nil {
		return err
	}
	return syscall.Exec(cfg.Python, cfg.Args, cfg.Env)
}

// stagingDir is where the new root is assembled before pivot_root: the
// host's /tmp, which the minimal root hides anyway. (The sources of the
// binds are opened first, so a source under /tmp still works.)
const stagingDir = "/tmp"

// buildRoot replaces the worker's root with a minimal one: a read-only
// tmpfs holding read-only binds of what the interpreter needs (cfg.Binds),
// /dev/null, /dev/zero and /dev/urandom bound from the host, a few files in
// /etc, a fresh /proc for the worker's pid namespace and a private writable
// /tmp. Everything else of the host (/run, /var, /home, /root, /sys, the
// engine's working directory and run folder, sockets and FIFOs) is gone:
// the old root is detached after pivot_root.
func buildRoot(cfg initConfig) error {
	type src struct {
		fd   int
		dst  string
		dir  bool
		link string // recreate as a symlink instead of binding
	}
	var srcs []src
	open := func(host, dst string) error {
		st, err := os.Lstat(host)
		if err != nil {
			return nil // absent on this host: nothing to bind
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(host)
			if err != nil {
				return fmt.Errorf("reading the link %s: %w", host, err)
			}
			srcs = append(srcs, src{fd: -1, dst: dst, link: target})
			return nil
		}
		if !st.IsDir() && !st.Mode().IsRegular() && st.Mode()&os.ModeCharDevice == 0 {
			return nil // no sockets, FIFOs or block devices
		}
		fd, err := unix.Open(host, unix.O_PATH|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fmt.Errorf("opening %s to bind it into the sandbox: %w", host, err)
		}
		srcs = append(srcs, src{fd: fd, dst: dst, dir: st.IsDir()})
		return nil
	}
	for _, b := range cfg.Binds {
		if err := open(b, b); err != nil {
			return err
		}
	}
	for _, d := range []string{"/dev/null", "/dev/zero", "/dev/urandom"} {
		if err := open(d, d); err != nil {
			return err
		}
	}
	for _, f := range append(etcFiles, sysFiles...) {
		if err := open(f, f); err != nil {
			return err
		}
	}
	root := stagingDir
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,nr_inodes=4096,mode=0755"); err != nil {
		return fmt.Errorf("mounting the sandbox root: %w", err)
	}
	for _, s := range srcs {
		dst := filepath.Join(root, s.dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("creating %s in the sandbox root: %w", s.dst, err)
		}
		if s.link != "" {
			if err := os.Symlink(s.link, dst); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("creating the link %s in the sandbox root: %w", s.dst, err)
			}
			continue
		}
		if s.dir {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("creating %s in the sandbox root: %w", s.dst, err)
			}
		} else if f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.Close()
		} else if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating %s in the sandbox root: %w", s.dst, err)
		}
		if err := bindReadOnly(fmt.Sprintf("/proc/self/fd/%d", s.fd), dst); err != nil {
			return fmt.Errorf("binding %s into the sandbox: %w", s.dst, err)
		}
		unix.Close(s.fd)
	}
	files := map[string]string{
		"/etc/passwd":   fmt.Sprintf("root:x:0:0:root:/tmp:/bin/sh\nprogram:x:%d:%d:program:/tmp:/bin/sh\n", programID, programID),
		"/etc/group":    fmt.Sprintf("root:x:0:\nprogram:x:%d:\n", programID),
		"/etc/hostname": "caco-sandbox\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("writing %s in the sandbox root: %w", name, err)
		}
	}
	for name, target := range map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating %s in the sandbox root: %w", name, err)
		}
	}
	for _, d := range []string{"proc", "tmp", ".old"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	// /proc of the worker's pid namespace; mounted before the host's /proc
	// goes away (the kernel allows a new proc only where one is visible).
	// hidepid=2: a program sees its own processes only. Writable so that each
	// program can raise its own oom_score_adj; programs run without
	// capabilities and cannot write anything else there.
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		"hidepid=2"); err != nil {
		return fmt.Errorf("mounting /proc for the sandbox's pid namespace: %w", err)
	}
	if err := unix.Mount("tmpfs", filepath.Join(root, "tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("size=%d,mode=0755,nr_inodes=65536", cfg.TmpSize)); err != nil {
		return fmt.Errorf("mounting the private /tmp: %w", err)
	}
	if err := unix.PivotRoot(root, filepath.Join(root, ".old")); err != nil {
		return fmt.Errorf("pivot_root into the sandbox root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return fmt.Errorf("removing the host root's mount point: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making the sandbox root read-only: %w", err)
	}
	return nil
}

// etcFiles are the host files under /etc a program sees (read-only): the
// dynamic linker's cache and configuration, the time zone, and Debian's
// alternatives (symbolic links such as libblas.so.3, which numpy loads,
// pointing back into /usr). passwd, group and hostname are written for the
// sandbox.
var etcFiles = []string{"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives"}

// sysFiles are the only files of /sys a program sees: glibc's malloc reads
// them to decide whether to back large allocations with transparent huge
// pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1); without them, filling
// memory takes about half again as long.
var sysFiles = []string{"/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"}

// bindReadOnly bind-mounts src (with whatever is mounted below it) on dst
// and makes it read-only and nosuid, recursively. Flags of the host's mounts
// that a user namespace locks (nodev, noexec, ...) stay as they are.
func bindReadOnly(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	err := unix.MountSetattr(unix.AT_FDCWD, dst, unix.AT_RECURSIVE,
		&unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID})
	if err == nil || !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// Before Linux 5.12: remount the top of the bind, keeping its flags.
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	return unix.Mount("", dst, "", flags, "")
}
