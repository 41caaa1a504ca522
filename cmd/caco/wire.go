package main

import "github.com/caco-dev/caco/operators/exec/sandbox"

// Commands implemented by operator packages' helpers, and the sandbox's
// re-exec hook: when caco starts itself as the sandbox init, MaybeInit takes
// over before anything else runs.
func init() {
	preMain = append(preMain, sandbox.MaybeInit)
	commands["exec"] = command{"run Code CoT files in the sandbox, one JSON line each", execMain}
	commands["test"] = command{"run recipes against the fixtures and expectations in NAME.test.yaml beside them", testMain}
	commands["serve-test-llm"] = command{"an OpenAI-compatible test server (latency, faults, replay)", serveTestLLMMain}
}
