package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const terminalInnerEnv = "CACO_TERMINAL_INNER"

// openPTY opens a pseudo-terminal pair; the slave is in raw mode, so that
// FIONREAD counts every byte typed into it.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.ICANON | unix.ECHO
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return m, s
}

func typedBytes(t *testing.T, tty *os.File) int {
	t.Helper()
	n, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCINQ)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTerminal runs the engine (this test binary) on a real
// pseudo-terminal, as its controlling terminal, and has a program try to
// type into it (tty_inject.py: /dev/tty, /dev/pts/*, TIOCSTI and TIOCLINUX
// on every descriptor). Nothing may arrive in the terminal's input. It
// also hands the terminal's descriptor straight to a process under the
// sandbox's seccomp filter and checks the filter refuses TIOCSTI, whatever
// the kernel's dev.tty.legacy_tiocsti says. A control injection without
// the sandbox shows the measurement can see typed bytes.
func TestTerminal(t *testing.T) {
	if os.Getenv(terminalInnerEnv) != "" {
		t.Skip("inner run")
	}
	_, slave := openPTY(t)
	// Control: root outside the sandbox can type into the terminal (when
	// the kernel still allows TIOCSTI); the count must see it.
	if err := unix.IoctlSetPointerInt(int(slave.Fd()), unix.TIOCSTI, 'x'); err == nil {
		if n := typedBytes(t, slave); n != 1 {
			t.Fatalf("control injection: %d bytes typed, want 1", n)
		}
		if err := unix.IoctlSetInt(int(slave.Fd()), unix.TCFLSH, unix.TCIFLUSH); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("control injection refused by this kernel (%v); the filter check below still runs", err)
	}

	out := filepath.Join(t.TempDir(), "result.json")
	for _, mode := range []string{"pool", "filter"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTerminalInner$", "-test.count=1")
		cmd.Env = append(os.Environ(), terminalInnerEnv+"="+mode, "CACO_TERMINAL_OUT="+out)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.ExtraFiles = []*os.File{slave} // fd 3: the terminal, for the filter check
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Run(); err != nil {
			b, _ := os.ReadFile(out)
			t.Fatalf("%s: inner run: %v: %s", mode, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", mode, b)
		var res struct {
			Error  string         `json:"error"`
			Result map[string]any `json:"result"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.Error != "" {
			t.Fatalf("%s: %s", mode, res.Error)
		}
		if n := typedBytes(t, slave); n != 0 {
			buf := make([]byte, n)
			slave.Read(buf)
			t.Fatalf("%s: %d bytes were typed into the engine's terminal: %q", mode, n, buf)
		}
		switch mode {
		case "pool":
			if res.Result["status"] != StatusOK {
				t.Fatalf("tty_inject.py: %v", res.Result)
			}
			if w, _ := res.Result["worked"].([]any); len(w) != 0 {
				t.Errorf("terminal attacks that worked: %v", w)
			}
		case "filter":
			if res.Result["tiocsti"] != "operation not permitted" || res.Result["tioclinux"] != "operation not permitted" {
				t.Errorf("the filter let a terminal ioctl through: %v", res.Result)
			}
			if res.Result["tcgets"] != "ok" {
				t.Errorf("the filter refused TCGETS, which Python needs: %v", res.Result)
			}
		}
	}
}

// TestTerminalInner is the engine side of TestTerminal, run on the
// pseudo-terminal.
func TestTerminalInner(t *testing.T) {
	mode := os.Getenv(terminalInnerEnv)
	if mode == "" {
		t.Skip("run through TestTerminal")
	}
	res := map[string]any{}
	var runErr error
	switch mode {
	case "pool":
		runErr = func() error {
			p, err := New(context.Background(), Options{Workers: 1, Timeout: 10 * time.Second, Preload: []string{"math"}})
			if err != nil {
				return err
			}
			defer p.Close()
			code, err := os.ReadFile(filepath.Join(hostileDir, "tty_inject.py"))
			if err != nil {
				return err
			}
			in := `{"marker": "caco-terminal-test"}`
			r, err := p.Run(context.Background(), string(code), &in)
			if err != nil {
				return err
			}
			res["status"] = r.Status
			res["reason"] = r.Reason
			var out map[string]any
			if json.Unmarshal(r.Output, &out) == nil {
				res["worked"] = out["worked"]
			}
			return nil
		}()
	case "filter":
		// The filter is installed on this whole process (it is about to
		// exit): every thread, as in the sandbox init.
		runErr = loadSeccomp()
		errText := func(err error) string {
			if err == nil {
				return "ok"
			}
			var en syscall.Errno
			if errors.As(err, &en) {
				return en.Error()
			}
			return err.Error()
		}
		res["tiocsti"] = errText(unix.IoctlSetPointerInt(3, unix.TIOCSTI, 'x'))
		res["tioclinux"] = errText(unix.IoctlSetPointerInt(3, unix.TIOCLINUX, 6))
		_, err := unix.IoctlGetTermios(3, unix.TCGETS)
		res["tcgets"] = errText(err)
	}
	out := map[string]any{"result": res}
	if runErr != nil {
		out["error"] = runErr.Error()
	}
	b, _ := json.Marshal(out)
	if err := os.WriteFile(os.Getenv("CACO_TERMINAL_OUT"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
