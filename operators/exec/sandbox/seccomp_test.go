package sandbox

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const auditArchI386 = 0x40000003

// evalFilter runs the compiled filter in a BPF interpreter on one
// seccomp_data and returns the action (SECCOMP_RET_*, with the errno).
func evalFilter(t *testing.T, vm *bpf.VM, arch uint32, nr uint32, args ...uint64) uint32 {
	t.Helper()
	// struct seccomp_data as a little-endian kernel lays it out; the
	// interpreter loads each 32-bit word in network order, so every word is
	// stored big-endian at its little-endian offset.
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[16+8*i+4:], uint32(a>>32))
	}
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(ret)
}

func compiledFilter(t *testing.T) *bpf.VM {
	t.Helper()
	ins, err := filterProgram()
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

const (
	actAllow  = unix.SECCOMP_RET_ALLOW
	actEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	actENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

// TestFilterPerABI checks the filter's decisions per ABI in a BPF
// interpreter, so it holds whether or not this kernel has the i386 and x32
// ABIs (the sandbox test runs real calls too).
func TestFilterPerABI(t *testing.T) {
	vm := compiledFilter(t)
	cases := []struct {
		name string
		arch uint32
		nr   uint32
		args []uint64
		want uint32
	}{
		{"read", auditArchX86_64, unix.SYS_READ, nil, actAllow},
		{"fork via clone", auditArchX86_64, unix.SYS_CLONE, []uint64{17 | unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID}, actAllow},
		{"thread via clone", auditArchX86_64, unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID}, actAllow},
		{"clone newuser", auditArchX86_64, unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER | 17}, actEPERM},
		{"clone newnet", auditArchX86_64, unix.SYS_CLONE, []uint64{unix.CLONE_NEWNET}, actEPERM},
		{"clone3", auditArchX86_64, unix.SYS_CLONE3, nil, actENOSYS},
		{"unshare", auditArchX86_64, unix.SYS_UNSHARE, []uint64{unix.CLONE_NEWUSER}, actEPERM},
		{"setns", auditArchX86_64, unix.SYS_SETNS, nil, actEPERM},
		{"mount", auditArchX86_64, unix.SYS_MOUNT, nil, actEPERM},
		{"ptrace", auditArchX86_64, unix.SYS_PTRACE, nil, actEPERM},
		{"process_vm_readv", auditArchX86_64, unix.SYS_PROCESS_VM_READV, nil, actEPERM},
		{"pidfd_getfd", auditArchX86_64, unix.SYS_PIDFD_GETFD, nil, actEPERM},
		{"bpf", auditArchX86_64, unix.SYS_BPF, nil, actEPERM},
		{"io_uring_setup", auditArchX86_64, unix.SYS_IO_URING_SETUP, nil, actEPERM},
		{"shmget", auditArchX86_64, unix.SYS_SHMGET, nil, actEPERM},
		{"semget", auditArchX86_64, unix.SYS_SEMGET, nil, actEPERM},
		{"msgget", auditArchX86_64, unix.SYS_MSGGET, nil, actEPERM},
		{"mq_open", auditArchX86_64, unix.SYS_MQ_OPEN, nil, actEPERM},
		{"memfd_secret", auditArchX86_64, 447, nil, actEPERM},
		{"personality", auditArchX86_64, unix.SYS_PERSONALITY, nil, actEPERM},
		{"keyctl", auditArchX86_64, unix.SYS_KEYCTL, nil, actEPERM},
		{"userfaultfd", auditArchX86_64, unix.SYS_USERFAULTFD, nil, actEPERM},
		{"ioctl TCGETS", auditArchX86_64, unix.SYS_IOCTL, []uint64{0, unix.TCGETS}, actAllow},
		{"ioctl TIOCSTI", auditArchX86_64, unix.SYS_IOCTL, []uint64{0, unix.TIOCSTI}, actEPERM},
		{"ioctl TIOCSTI high bits", auditArchX86_64, unix.SYS_IOCTL, []uint64{0, 1<<32 | unix.TIOCSTI}, actEPERM},
		{"ioctl TCGETS high bits", auditArchX86_64, unix.SYS_IOCTL, []uint64{0, 1<<32 | unix.TCGETS}, actEPERM},
		{"ioctl TIOCLINUX", auditArchX86_64, unix.SYS_IOCTL, []uint64{0, unix.TIOCLINUX}, actEPERM},
		{"socket AF_INET", auditArchX86_64, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM}, actAllow},
		{"socket AF_UNIX", auditArchX86_64, unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, actAllow},
		{"socket AF_VSOCK", auditArchX86_64, unix.SYS_SOCKET, []uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, actEPERM},
		{"socket AF_NETLINK", auditArchX86_64, unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW}, actEPERM},
		{"socket AF_PACKET", auditArchX86_64, unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_RAW}, actEPERM},
		{"socket AF_VSOCK high bits", auditArchX86_64, unix.SYS_SOCKET, []uint64{1<<32 | unix.AF_VSOCK}, actEPERM},
		// x32: the native arch value with the x32 bit in the number.
		{"x32 getpid", auditArchX86_64, 0x40000000 | 39, nil, actENOSYS},
		{"x32 unshare", auditArchX86_64, 0x40000000 | 272, []uint64{unix.CLONE_NEWUSER}, actENOSYS},
		// i386 (int 0x80): every call refused, harmless ones included.
		{"i386 getpid", auditArchI386, 20, nil, actEPERM},
		{"i386 read", auditArchI386, 3, nil, actEPERM},
		{"i386 unshare", auditArchI386, 310, []uint64{unix.CLONE_NEWUSER}, actEPERM},
		{"i386 ipc", auditArchI386, 117, nil, actEPERM},
		{"i386 shmget", auditArchI386, 395, nil, actEPERM},
		{"i386 mount", auditArchI386, 21, nil, actEPERM},
	}
	for _, c := range cases {
		if got := evalFilter(t, vm, c.arch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: action %#x, want %#x", c.name, got, c.want)
		}
	}
}
