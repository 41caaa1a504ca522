package sandbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Uids and gids inside a worker's user namespace. The zygote is root (mapped
// to the engine's own uid 0); programs run as programID, mapped to
// hostProgramID, an otherwise unused host id.
const (
	programID     = 1000
	hostProgramID = 1999000000
)

type readyInfo struct {
	Ready     bool     `json:"ready"`
	Preloaded []string `json:"preloaded"`
	Python    string   `json:"python"`
}

type worker struct {
	cmd    *exec.Cmd
	req    *os.File
	resp   *os.File
	stderr *capBuffer
	info   readyInfo
	tmpDir string // unsafe mode only
	cg     *cgroup

	exited   chan struct{}
	killOnce sync.Once
}

// zygoteConfig is argv[1] of the zygote.
type zygoteConfig struct {
	Isolated        bool     `json:"isolated"`
	Tmp             string   `json:"tmp"`
	UID             int      `json:"uid"`
	GID             int      `json:"gid"`
	Timeout         float64  `json:"timeout"`
	MaxStdout       int64    `json:"max_stdout"`
	MaxResult       int64    `json:"max_result"`
	MaxDigits       int      `json:"max_digits"`
	IntMaxStrDigits int      `json:"int_max_str_digits"`
	Preload         []string `json:"preload"`
	HugePages       bool     `json:"hugepages"`
	Limits          limits   `json:"limits"`
}

// initConfig is what the parent hands the sandbox init (MaybeInit).
type initConfig struct {
	Python  string   `json:"python"`
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	TmpSize int64    `json:"tmp_size"`
	// Hide lists directories covered by an empty read-only tmpfs (the
	// engine's home and the other homes, where keys and configs live).
	Hide []string `json:"hide"`
}

func maxResult(o Options) int64 { return 4*o.MaxStdout + (8 << 20) }

func pythonEnv(tmp string) []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + tmp,
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"PYTHONIOENCODING=utf-8",
		"PYTHONHASHSEED=0",
		"OPENBLAS_NUM_THREADS=1",
		"OMP_NUM_THREADS=1",
		"MKL_NUM_THREADS=1",
		"NUMEXPR_NUM_THREADS=1",
		"VECLIB_MAXIMUM_THREADS=1",
		"MPLBACKEND=Agg",
		// glibc's heap on transparent huge pages too (see _collapse in zygote.py).
		"GLIBC_TUNABLES=glibc.malloc.hugetlb=1",
	}
}

func startWorker(ctx context.Context, o Options) (*worker, error) {
	zc := zygoteConfig{
		Isolated:        !o.Unsafe,
		Tmp:             "/tmp",
		UID:             programID,
		GID:             programID,
		Timeout:         o.Timeout.Seconds(),
		MaxStdout:       o.MaxStdout,
		MaxResult:       maxResult(o),
		MaxDigits:       o.MaxDigits,
		IntMaxStrDigits: o.IntMaxStrDigits,
		Preload:         o.Preload,
		HugePages:       !o.NoHugePages,
		Limits:          programLimits(o),
	}
	w := &worker{stderr: &capBuffer{max: 64 << 10}, exited: make(chan struct{})}
	if o.Unsafe {
		dir, err := os.MkdirTemp("", "caco-exec-")
		if err != nil {
			return nil, fmt.Errorf("creating the worker's temp dir: %w", err)
		}
		w.tmpDir = dir
		zc.Tmp = dir
	}
	zcJSON, err := json.Marshal(zc)
	if err != nil {
		return nil, err
	}
	args := []string{o.Python, "-s", "-B", "-c", zygoteSource, string(zcJSON)}
	if o.Unsafe {
		w.cmd = &exec.Cmd{Path: o.Python, Args: args, Env: pythonEnv(zc.Tmp), Dir: zc.Tmp,
			SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}}
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the caco binary to re-execute as the sandbox init: %w", err)
		}
		ic, err := json.Marshal(initConfig{Python: o.Python, Args: args, Env: pythonEnv(zc.Tmp), TmpSize: o.TmpSize,
			Hide: hiddenDirs(o.Python)})
		if err != nil {
			return nil, err
		}
		w.cmd = &exec.Cmd{Path: self, Args: []string{initArg0}, Env: []string{initEnv + "=" + string(ic)}, Dir: "/",
			SysProcAttr: isolatedAttr()}
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, err
	}
	w.cmd.Stdin, w.cmd.Stdout, w.cmd.Stderr = reqR, respW, w.stderr
	w.req, w.resp = reqW, respR
	w.cg = newCgroup(o.WorkerMemory, o.MaxProcs+16)
	err = w.cmd.Start()
	reqR.Close()
	respW.Close()
	if err == nil && w.cg != nil {
		// No program runs before the zygote reports ready, so every program
		// process is forked inside the cgroup.
		if cgErr := w.cg.add(w.cmd.Process.Pid); cgErr != nil {
			w.cmd.Process.Kill()
			w.cmd.Wait()
			err = cgErr
		}
	}
	if err != nil {
		w.cg.close()
		w.req.Close()
		w.resp.Close()
		w.cleanupTmp()
		if !o.Unsafe && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EACCES)) {
			return nil, fmt.Errorf("starting the exec sandbox: creating user, pid, network, mount and IPC namespaces: %w "+
				"(namespaces are not allowed here; the sandbox needs root with namespaces enabled. "+
				"`sandbox: none` / --sandbox none runs programs without isolation, which is unsafe)", err)
		}
		return nil, fmt.Errorf("starting the exec sandbox (%s): %w", o.Python, err)
	}
	go func() {
		w.cmd.Wait()
		close(w.exited)
	}()
	deadline := time.Now().Add(o.StartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	w.resp.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, w.kill)
	defer stop()
	frame, err := readFrame(w.resp, 1<<20)
	if err == nil {
		err = json.Unmarshal(frame, &w.info)
		if err == nil && !w.info.Ready {
			err = errors.New("zygote did not report ready")
		}
	}
	if err != nil {
		w.kill()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("starting the exec sandbox: %w%s", err, w.stderrNote())
	}
	return w, nil
}

// hiddenDirs are the home directories to hide from programs, except one
// holding the interpreter (a pyenv Python under /root).
func hiddenDirs(python string) []string {
	py := python
	if p, err := exec.LookPath(python); err == nil {
		py = p
	}
	if p, err := filepath.EvalSymlinks(py); err == nil {
		py = p
	}
	cands := []string{"/root", "/home"}
	if h, err := os.UserHomeDir(); err == nil {
		cands = append(cands, h)
	}
	var out []string
	for _, d := range cands {
		d = filepath.Clean(d)
		if d == "/" || strings.HasPrefix(py, d+"/") || strings.HasPrefix(python, d+"/") {
			continue
		}
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

func (w *worker) stderrNote() string {
	s := strings.TrimSpace(w.stderr.String())
	if s == "" {
		return ""
	}
	return ": " + s
}

func (w *worker) dead() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// kill stops the worker: in isolated mode killing the zygote (pid 1 of the
// namespace) kills every process in it.
func (w *worker) kill() {
	w.killOnce.Do(func() {
		if w.cmd.Process != nil {
			w.cmd.Process.Kill()
			if w.cmd.SysProcAttr != nil && w.cmd.SysProcAttr.Setpgid {
				syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
			}
		}
		w.req.Close()
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
		}
		w.resp.Close()
		w.cleanupTmp()
		w.cg.close()
	})
}

func (w *worker) cleanupTmp() {
	if w.tmpDir != "" {
		os.RemoveAll(w.tmpDir)
	}
}

// encodeRequest frames a program for the zygote (decoded by _child in
// zygote.py) without JSON, which would cost the forked child a json.loads:
// a flag byte (1 when an input follows), the code's length (4 bytes,
// big-endian), the code, then the input's JSON text. Both are made valid
// UTF-8 as encoding/json would: each invalid byte becomes U+FFFD.
func encodeRequest(code string, input *string) []byte {
	code = validUTF8(code)
	in := ""
	if input != nil {
		in = validUTF8(*input)
	}
	b := make([]byte, 4+5+len(code)+len(in))
	binary.BigEndian.PutUint32(b, uint32(len(b)-4)) // the frame's length
	if input != nil {
		b[4] = 1
	}
	binary.BigEndian.PutUint32(b[5:], uint32(len(code)))
	copy(b[9:], code)
	copy(b[9+len(code):], in)
	return b
}

// validUTF8 replaces each byte of s that is not part of valid UTF-8 with
// U+FFFD, like encoding/json does when it marshals a string.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

type limits struct {
	CPU    int   `json:"cpu"`
	Memory int64 `json:"memory"`
	Nproc  int   `json:"nproc"`
	Fsize  int64 `json:"fsize"`
	Nofile int   `json:"nofile"`
}

func programLimits(o Options) limits {
	mem := o.Memory
	if mem < 0 {
		mem = 0
	}
	return limits{
		CPU:    int(math.Ceil(o.Timeout.Seconds())) + 1,
		Memory: mem,
		Nproc:  o.MaxProcs,
		Fsize:  o.MaxFileSize,
		Nofile: o.MaxOpenFiles,
	}
}

type header struct {
	Timeout     bool    `json:"timeout"`
	OutputLimit bool    `json:"output_limit"`
	ResultLimit bool    `json:"result_limit"`
	Signal      int     `json:"signal"`
	Exit        *int    `json:"exit"`
	Ms          float64 `json:"ms"`
	Error       string  `json:"error"`
}

type childResult struct {
	Status      string          `json:"status"`
	Reason      string          `json:"reason"`
	Traceback   string          `json:"traceback"`
	HasInput    bool            `json:"has_input"`
	Input       json.RawMessage `json:"input"`
	InputEmpty  bool            `json:"input_empty"`
	HasOutput   bool            `json:"has_output"`
	Output      json.RawMessage `json:"output"`
	OutputEmpty bool            `json:"output_empty"`
	UnusedInput []string        `json:"unused_input"`
	TooLarge    string          `json:"too_large"`
}

func (w *worker) run(ctx context.Context, o Options, code string, input *string) (Result, error) {
	frame := encodeRequest(code, input)
	stop := context.AfterFunc(ctx, w.kill)
	defer stop()
	oom0 := w.cg.oomKills()
	fail := func(what string, err error) (Result, error) {
		var r Result
		if w.cg.oomKills() > oom0 {
			r = Result{Status: StatusMemory, Reason: "the sandbox's memory limit was hit (the OOM killer stopped the sandbox)"}
		}
		return r, fmt.Errorf("%s: %w%s", what, err, w.stderrNote())
	}
	if _, err := w.req.Write(frame); err != nil {
		return fail("sending the program to the sandbox", err)
	}
	// Backstop: the zygote enforces the timeout itself; if it does not
	// answer well after that, the whole worker is killed.
	w.resp.SetReadDeadline(time.Now().Add(o.Timeout + 10*time.Second))
	hdrB, err := readFrame(w.resp, 1<<20)
	if err != nil {
		return fail("reading the sandbox's answer", err)
	}
	resB, err := readFrame(w.resp, maxResult(o))
	if err != nil {
		return fail("reading the sandbox's answer", err)
	}
	outB, err := readFrame(w.resp, o.MaxStdout)
	if err != nil {
		return fail("reading the sandbox's answer", err)
	}
	var h header
	if err := json.Unmarshal(hdrB, &h); err != nil {
		return Result{}, fmt.Errorf("decoding the sandbox's answer: %w", err)
	}
	r := buildResult(h, resB, outB)
	if r.Status == StatusKilled && h.Signal == int(syscall.SIGKILL) && w.cg.oomKills() > oom0 {
		r.Status, r.Reason = StatusMemory, "the sandbox's memory limit was hit (killed by the OOM killer)"
	}
	return r, nil
}

func buildResult(h header, resB, outB []byte) Result {
	r := Result{Stdout: strings.ToValidUTF8(string(outB), "\uFFFD"), Elapsed: time.Duration(h.Ms * float64(time.Millisecond))}
	var cr childResult
	haveResult := false
	if len(resB) > 0 && !h.ResultLimit {
		if err := json.Unmarshal(resB, &cr); err == nil && cr.Status != "" {
			haveResult = true
		}
	}
	switch {
	case h.Error != "":
		r.Status, r.Reason = StatusSandboxError, h.Error
	case h.OutputLimit:
		r.Status, r.Reason = StatusOutputLimit, "stdout passed the limit"
	case h.ResultLimit:
		r.Status, r.Reason = StatusOutputLimit, "input or output value passed the limit"
	case h.Timeout:
		r.Status, r.Reason = StatusTimeout, "wall-clock time limit"
	case haveResult:
		r.Status, r.Reason, r.Traceback = cr.Status, cr.Reason, cr.Traceback
		if r.Status == StatusMemory && r.Reason == "" {
			r.Reason = "MemoryError"
		}
	case h.Signal == int(syscall.SIGXCPU):
		r.Status, r.Reason = StatusTimeout, "CPU time limit"
	case h.Signal != 0:
		r.Status, r.Reason = StatusKilled, "killed by "+signalName(h.Signal)
	case len(resB) > 0:
		r.Status, r.Reason = StatusException, "the program corrupted its result channel"
	default:
		code := -1
		if h.Exit != nil {
			code = *h.Exit
		}
		r.Status, r.Reason = StatusException, fmt.Sprintf("the process exited with status %d before reporting a result", code)
	}
	if r.Status != StatusOK {
		return r
	}
	r.HasInput, r.InputEmpty, r.UnusedInput, r.TooLarge = cr.HasInput, cr.InputEmpty, cr.UnusedInput, cr.TooLarge
	if cr.HasInput && cr.TooLarge != "input" {
		r.Input = cr.Input
	}
	r.HasOutput = cr.HasOutput
	if cr.HasOutput {
		r.OutputEmpty = cr.OutputEmpty
		if cr.TooLarge != "output" {
			r.Output = cr.Output
		}
	} else {
		s := trimPython(r.Stdout)
		r.OutputEmpty = s == ""
		b, _ := json.Marshal(s)
		r.Output = b
	}
	return r
}

func signalName(sig int) string {
	switch syscall.Signal(sig) {
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGFPE:
		return "SIGFPE"
	case syscall.SIGILL:
		return "SIGILL"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGXFSZ:
		return "SIGXFSZ"
	}
	return fmt.Sprintf("signal %d", sig)
}

func readFrame(r io.Reader, max int64) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if int64(size) > max {
		return nil, fmt.Errorf("frame of %d bytes is larger than %d", size, max)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// capBuffer keeps the first max bytes written to it.
type capBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.b); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		c.b = append(c.b, p[:room]...)
	}
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}
