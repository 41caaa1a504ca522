package op

// ModelConfig is one entry under the recipe's top-level `models:`. The
// engine validates it against ModelFields and hands it to the operators that
// name it (generate).
type ModelConfig struct {
	Name        string     `yaml:"-" json:"name"`
	BaseURL     string     `yaml:"base_url" json:"base_url,omitempty"`
	Endpoints   StringList `yaml:"endpoints" json:"endpoints,omitempty"`
	Model       string     `yaml:"model" json:"model"`
	API         string     `yaml:"api" json:"api"`
	APIKey      string     `yaml:"api_key" json:"-"`
	Concurrency int        `yaml:"concurrency" json:"concurrency"`
	Timeout     Dur        `yaml:"timeout" json:"timeout"`
	Retries     int        `yaml:"retries" json:"retries"`
	// Backoff is the delay before the first retry; it doubles per retry up
	// to MaxBackoff, with jitter.
	Backoff    Dur    `yaml:"backoff" json:"backoff"`
	MaxBackoff Dur    `yaml:"max_backoff" json:"max_backoff"`
	Replay     string `yaml:"replay" json:"replay,omitempty"`
	Serve      *Serve `yaml:"serve" json:"serve,omitempty"`
	// MaxFailed is the error budget for transient failures: a count ("10")
	// or a fraction ("0.05", "5%"); see generate's max_failed.
	MaxFailed string `yaml:"max_failed" json:"max_failed,omitempty"`
}

// Endpoint URLs of a model: Endpoints when set, else BaseURL.
func (m *ModelConfig) URLs() []string {
	if len(m.Endpoints) > 0 {
		return m.Endpoints
	}
	if m.BaseURL != "" {
		return []string{m.BaseURL}
	}
	return nil
}

// Serve starts a model server for the run.
type Serve struct {
	Command        []string `yaml:"command" json:"command"`
	Ready          string   `yaml:"ready" json:"ready"`
	StartupTimeout Dur      `yaml:"startup_timeout" json:"startup_timeout"`
	StopTimeout    Dur      `yaml:"stop_timeout" json:"stop_timeout"`
	Port           int      `yaml:"port" json:"port,omitempty"`
}

// ModelFields is the spec of a `models:` entry.
var ModelFields = []Field{
	{Name: "base_url", Kind: String, Doc: "OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1. With `serve`, ${port} is replaced by the server's port; when unset it defaults to http://127.0.0.1:${port}/v1.", Example: "http://127.0.0.1:8000/v1"},
	{Name: "endpoints", Kind: Strings, Doc: "Several API roots; requests are spread over them (the least busy first) and a retry goes to the next one."},
	{Name: "model", Kind: String, Required: true, Doc: "Model name sent in each request; part of every cache key."},
	{Name: "api", Kind: Enum, Enum: []string{"completions", "chat"}, Default: "chat", Doc: "completions sends a raw prompt; chat sends messages."},
	{Name: "api_key", Kind: String, Secret: true, Doc: "Bearer token; usually ${env:OPENAI_API_KEY}. Never written anywhere."},
	{Name: "concurrency", Kind: Int, Default: 64, Min: Bound(1), Doc: "Requests in flight for this model, across all endpoints and steps."},
	{Name: "timeout", Kind: Duration, Default: "10m", Doc: "Per request (each attempt)."},
	{Name: "retries", Kind: Int, Default: 6, Min: Bound(0), Doc: "Retries on 429, 5xx, timeouts and connection errors, with exponential backoff and jitter; Retry-After is honoured. Other 4xx are never retried."},
	{Name: "backoff", Kind: Duration, Default: "500ms", Doc: "Delay before the first retry; it doubles with each retry up to max_backoff, with random jitter."},
	{Name: "max_backoff", Kind: Duration, Default: "30s", Doc: "Longest delay between retries (a longer Retry-After from the server still wins)."},
	{Name: "max_failed", Kind: String, Doc: "Error budget for requests that fail on transient errors (no connection, timeout, 429, 5xx) after their retries: a count (10) or a fraction (0.05 or 5%) of the last 100 finished requests, checked once 20 have finished. Past it the run stops (exit 1), naming the endpoint, the error and the rows waiting. A step's max_failed wins. Default 5%.", Example: "5%"},
	{Name: "replay", Kind: Path, Doc: "Serve responses from a recorded JSONL file (see `caco run --record DIR`) instead of HTTP, for offline runs and tests. A request missing from the file fails the run with an error that names it. Used only while the model has no base_url, endpoints or serve: setting a URL points the same recipe at a real server."},
	{Name: "serve", Kind: Object, Doc: "Start the model server for this run and stop it afterwards (SIGTERM, then SIGKILL after stop_timeout). Its output goes to serve-<model>.log in the run folder.", Fields: []Field{
		{Name: "command", Kind: Strings, Required: true, Doc: "Command and arguments; ${port} is replaced by the chosen port."},
		{Name: "ready", Kind: String, Default: "/v1/models", Doc: "Path on the server polled until it answers 200."},
		{Name: "startup_timeout", Kind: Duration, Default: "20m", Doc: "How long to wait for ready."},
		{Name: "stop_timeout", Kind: Duration, Default: "30s", Doc: "How long to wait after SIGTERM before SIGKILL."},
		{Name: "port", Kind: Int, Doc: "Port to use; a free one is chosen when unset."},
	}},
}
