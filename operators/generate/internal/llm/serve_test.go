package llm

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "CACO_LLM_SERVE_HELPER"

// TestMain turns the test binary into a tiny model server when re-executed
// with helperEnv set, so serve tests start a real process without building
// anything.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(serveHelper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func serveHelper(args []string) int {
	fs := flag.NewFlagSet("helper", flag.ExitOnError)
	port := fs.Int("port", 0, "")
	mode := fs.String("mode", "normal", "normal | stubborn | exit | never")
	fs.Parse(args)
	fmt.Println("helper starting; api key is sk-helper-secret")
	if *mode == "exit" {
		fmt.Println("boom: cannot load model")
		return 1
	}
	if *mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
	}
	term := make(chan os.Signal, 1)
	if *mode != "stubborn" {
		signal.Notify(term, syscall.SIGTERM)
	}
	ready := time.Now().Add(200 * time.Millisecond)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
		if *mode == "never" || time.Now().Before(ready) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"data":[]}`)
	})
	go http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", *port), mux)
	<-term
	fmt.Println("helper got SIGTERM")
	return 0
}

func helperCommand(mode string) []string {
	return []string{os.Args[0], "--port", "${port}", "--mode", mode}
}

func TestServeStartStop(t *testing.T) {
	t.Setenv(helperEnv, "1")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "serve-m.log")
	s, err := StartServer(context.Background(), ServeConfig{
		Name: "m", Command: helperCommand("normal"), Ready: "/v1/models",
		StartupTimeout: 20 * time.Second, StopTimeout: 5 * time.Second, LogPath: logPath,
		Secrets: []string{"sk-helper-secret"}, PollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/v1", s.Port); s.BaseURL != want {
		t.Errorf("BaseURL %q, want %q", s.BaseURL, want)
	}
	resp, err := http.Get(s.BaseURL + "/models")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("server not ready after StartServer: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("process still running after Stop")
	}
	if err := syscall.Kill(s.Pid(), 0); err == nil {
		t.Error("process still exists after Stop")
	}
	log, _ := os.ReadFile(logPath)
	if strings.Contains(string(log), "sk-helper-secret") {
		t.Errorf("secret in the serve log:\n%s", log)
	}
	for _, want := range []string{"api key is ***", "helper got SIGTERM", "caco: server stopped"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// Stop twice is fine.
	if err := s.Stop(); err != nil {
		t.Error(err)
	}
}

func TestServeKillsStubborn(t *testing.T) {
	t.Setenv(helperEnv, "1")
	var logged []string
	s, err := StartServer(context.Background(), ServeConfig{
		Name: "m", Command: helperCommand("stubborn"), StartupTimeout: 20 * time.Second,
		StopTimeout: 200 * time.Millisecond, LogPath: filepath.Join(t.TempDir(), "log"),
		PollInterval: 20 * time.Millisecond,
		Logf:         func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	select {
	case <-s.Done():
	default:
		t.Fatal("still running")
	}
	if !strings.Contains(strings.Join(logged, "\n"), "SIGKILL") {
		t.Errorf("no SIGKILL logged: %v", logged)
	}
}

func TestServeFailures(t *testing.T) {
	t.Setenv(helperEnv, "1")
	cases := []struct {
		mode    string
		timeout time.Duration
		want    []string
	}{
		{"exit", 20 * time.Second, []string{"exited before it was ready", "boom: cannot load model"}},
		{"never", 300 * time.Millisecond, []string{"did not answer 200 within the startup_timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			_, err := StartServer(context.Background(), ServeConfig{
				Name: "m", Command: helperCommand(tc.mode), StartupTimeout: tc.timeout, StopTimeout: time.Second,
				LogPath: filepath.Join(t.TempDir(), "log"), PollInterval: 20 * time.Millisecond, Secrets: []string{"sk-helper-secret"},
			})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "sk-helper-secret") {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
	_, err := StartServer(context.Background(), ServeConfig{Name: "m", Command: []string{"/nonexistent/vllm"}, LogPath: filepath.Join(t.TempDir(), "log")})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/vllm") {
		t.Errorf("err = %v", err)
	}
}
