package llm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ServeConfig describes a model server to start for a run.
type ServeConfig struct {
	Name           string   // the `models:` entry
	Command        []string // ${port} is replaced
	Ready          string   // path polled until 200, e.g. /v1/models
	StartupTimeout time.Duration
	StopTimeout    time.Duration
	Port           int    // 0: choose a free one
	BaseURL        string // may contain ${port}; "" means http://127.0.0.1:${port}/v1
	LogPath        string
	Secrets        []string // scrubbed from the log
	PollInterval   time.Duration
	Logf           func(format string, args ...any)
}

// Server is a running model server process.
type Server struct {
	cfg     ServeConfig
	BaseURL string
	Port    int

	cmd     *exec.Cmd
	log     *scrubWriter
	logFile *os.File
	done    chan struct{} // closed when the process exited
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// PortVar is replaced by the server's port in serve commands and base_url.
const PortVar = "${port}"

// StartServer starts the process, logging to cfg.LogPath, and waits until
// it answers 200 on its ready path. On failure the process is stopped and
// the error quotes the end of its log.
func StartServer(ctx context.Context, cfg ServeConfig) (*Server, error) {
	if len(cfg.Command) == 0 {
		return nil, fmt.Errorf("starting server for model %s: serve.command is empty", cfg.Name)
	}
	if cfg.Ready == "" {
		cfg.Ready = "/v1/models"
	}
	if cfg.StartupTimeout <= 0 {
		cfg.StartupTimeout = 20 * time.Minute
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	port := cfg.Port
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("starting server for model %s: choosing a port: %w", cfg.Name, err)
		}
		port = p
	}
	ps := strconv.Itoa(port)
	base := cfg.BaseURL
	if base == "" {
		base = "http://127.0.0.1:" + PortVar + "/v1"
	}
	base = strings.ReplaceAll(base, PortVar, ps)
	args := make([]string, len(cfg.Command))
	for i, a := range cfg.Command {
		args[i] = strings.ReplaceAll(a, PortVar, ps)
	}
	readyURL, err := readyURL(base, cfg.Ready)
	if err != nil {
		return nil, fmt.Errorf("starting server for model %s: %w", cfg.Name, err)
	}

	lf, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("starting server for model %s: opening its log: %w", cfg.Name, err)
	}
	s := &Server{cfg: cfg, BaseURL: base, Port: port, logFile: lf, done: make(chan struct{})}
	s.log = &scrubWriter{w: lf, secrets: cfg.Secrets}
	fmt.Fprintf(s.log, "caco: starting %s\n", strings.Join(args, " "))

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	// Its own process group, so that stopping it reaches its children
	// (vLLM workers); Pdeathsig stops it if caco itself dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	// Children may keep the output pipe open after the leader exited.
	cmd.WaitDelay = 2 * time.Second
	s.cmd = cmd
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits:
		// keep this goroutine on its thread until the child is gone.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(s.done)
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting server for model %s: %s: %w", cfg.Name, Scrub(args[0], cfg.Secrets...), err)
	}
	if cfg.Logf != nil {
		cfg.Logf("model %s: started server (pid %d, port %d), log %s", cfg.Name, cmd.Process.Pid, port, cfg.LogPath)
	}
	if err := s.waitReady(ctx, readyURL); err != nil {
		s.Stop()
		return nil, fmt.Errorf("starting server for model %s: %w%s", cfg.Name, err, s.logTail())
	}
	if cfg.Logf != nil {
		cfg.Logf("model %s: server ready at %s", cfg.Name, base)
	}
	return s, nil
}

func readyURL(base, ready string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("base_url %q is not a URL", base)
	}
	if strings.HasPrefix(ready, "http://") || strings.HasPrefix(ready, "https://") {
		return ready, nil
	}
	if !strings.HasPrefix(ready, "/") {
		ready = "/" + ready
	}
	return u.Scheme + "://" + u.Host + ready, nil
}

func (s *Server) waitReady(ctx context.Context, readyURL string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartupTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("the server exited before it was ready (%v)", s.waitErr)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s did not answer 200 within the startup_timeout of %s", readyURL, s.cfg.StartupTimeout)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *Server) logTail() string {
	s.log.Flush()
	b, err := os.ReadFile(s.cfg.LogPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return fmt.Sprintf("; the end of its log %s:\n%s", s.cfg.LogPath, strings.Join(lines, "\n"))
}

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM to the server's process group, then SIGKILL after
// StopTimeout, and waits for it to exit.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		pgid := s.cmd.Process.Pid
		select {
		case <-s.done:
		default:
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			t := time.NewTimer(s.cfg.StopTimeout)
			select {
			case <-s.done:
				t.Stop()
			case <-t.C:
				if s.cfg.Logf != nil {
					s.cfg.Logf("model %s: server did not stop within %s of SIGTERM; sending SIGKILL", s.cfg.Name, s.cfg.StopTimeout)
				}
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-s.done
			}
		}
		// Children that outlived the leader.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		s.log.Flush()
		fmt.Fprintf(s.logFile, "caco: server stopped (%v)\n", s.waitErr)
		if err := s.logFile.Close(); err != nil {
			s.stopErr = fmt.Errorf("stopping server for model %s: closing its log: %w", s.cfg.Name, err)
		}
	})
	return s.stopErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// scrubWriter writes lines with secrets replaced. A line is held until its
// end (\n or \r) so that a secret split across writes is still caught.
type scrubWriter struct {
	mu      sync.Mutex
	w       *os.File
	secrets []string
	buf     []byte
}

func (s *scrubWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	cut := bytes.LastIndexAny(s.buf, "\n\r")
	if cut < 0 && len(s.buf) < 1<<20 {
		return len(p), nil
	}
	if cut < 0 {
		cut = len(s.buf) - 1
	}
	out := Scrub(string(s.buf[:cut+1]), s.secrets...)
	if _, err := s.w.WriteString(out); err != nil {
		return 0, err
	}
	s.buf = append(s.buf[:0], s.buf[cut+1:]...)
	return len(p), nil
}

// Flush writes a pending partial line.
func (s *scrubWriter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 {
		s.w.WriteString(Scrub(string(s.buf), s.secrets...))
		s.buf = s.buf[:0]
	}
}
