package write_test

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/optest"
	"github.com/caco-dev/caco/operators/write"
)

var update = flag.Bool("update", false, "rewrite the export goldens in testdata/export")

// The golden files in testdata/export follow LLaMA-Factory's documented
// data formats (its data/README.md: alpaca; sharegpt with from/value and
// human/gpt; the OpenAI messages format as sharegpt with role/content tags)
// and dataset_info.json entries. They were produced with -update and checked
// line by line against that documentation; LLaMA-Factory itself was not run
// (it cannot be installed here). Python's json module reads every file.

// seedCoTs are seed Code CoTs as stage 1 writes them.
var seedSchema = optest.Schema("seed_id", "string", "problem", "string", "code", "string", "answer", "string")

const seedRows = `{"seed_id": "seed-001", "problem": "Muffins cost $3.", "code": "input = {\"n\": 7}\nn = input[\"n\"]\noutput = n * 3\n", "answer": "21"}
{"seed_id": "seed-002", "problem": "A \"quoted\" problem\twith tabs, ✓ and </s>", "code": "input = {\"a\": 2, \"b\": 5}\na = input[\"a\"]\nb = input[\"b\"]\noutput = a ** b\n", "answer": "32"}`

// codegenRoles makes CodeGen's training set: the system turn of its
// sampling prefix, the empty user turn the prefix opens, and the Code CoT in
// its fence as the completion.
const codegenRoles = "roles:\n  system: '\"You are a helpful assistant.\"'\n  user: '\"\"'\n  assistant: '\"```python\\n\" + code + \"```\"'\n"

// pyCheck parses the files with Python's json module and prints, per
// example, the role sequence and contents in a neutral form.
const pyCheck = `
import json, sys
fmt, data, info, name = sys.argv[1:5]
out = []
with open(data, encoding="utf-8") as f:
    for line in f:
        ex = json.loads(line)
        if fmt == "alpaca":
            turns = []
            if "system" in ex: turns.append(["system", ex["system"]])
            assert ex["input"] == ""
            turns += [["user", ex["instruction"]], ["assistant", ex["output"]]]
        elif fmt == "sharegpt":
            tags = {"human": "user", "gpt": "assistant"}
            turns = [["system", ex["system"]]] if "system" in ex else []
            turns += [[tags[m["from"]], m["value"]] for m in ex["conversations"]]
        else:
            turns = [[m["role"], m["content"]] for m in ex["messages"]]
        out.append(turns)
with open(info, encoding="utf-8") as f:
    entry = json.load(f)[name]
print(json.dumps({"examples": out, "entry": entry}, sort_keys=True))
`

func TestExportTrainingFormats(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs /usr/bin/python3 (.ci/deps installs it)")
	}
	cases := []struct {
		name, format, roles string
		hasSystem           bool
	}{
		{"codegen_sharegpt", write.FormatShareGPT, codegenRoles, true},
		{"codegen_messages", write.FormatMessages, codegenRoles, true},
		{"instruct_alpaca", write.FormatAlpaca, "roles:\n  user: problem\n  assistant: '\"The answer is \" + answer + \".\"'\n", false},
		{"instruct_sharegpt", write.FormatShareGPT, "roles:\n  user: problem\n  assistant: answer\n", false},
		{"instruct_messages", write.FormatMessages, "roles:\n  user: problem\n  assistant: answer\n", false},
	}
	var rows []map[string]string
	for _, l := range strings.Split(seedRows, "\n") {
		var r map[string]string
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := checked(t)
			dir := t.TempDir()
			data := filepath.Join(dir, "data", tc.name+".jsonl")
			info := filepath.Join(dir, "data", "dataset_info.json")
			// an existing entry is kept
			os.MkdirAll(filepath.Dir(info), 0o755)
			os.WriteFile(info, []byte(`{"other": {"file_name": "other.json"}}`), 0o644)
			cfg := "path: " + data + "\nformat: " + tc.format + "\ndataset_info: " + info + "\n" + tc.roles
			p, _ := optest.Plan(t, "write", cfg, seedSchema)
			rec := optest.Record(t, mem, seedSchema, seedRows)
			defer rec.Release()
			res := optest.Run(t, p, mem, nil, rec)
			if len(res.Rows) != 2 || len(res.Rejects) != 0 {
				t.Fatalf("rows %d rejects %v", len(res.Rows), res.Rejects)
			}
			got, err := os.ReadFile(data)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "export", tc.name+".jsonl"), got)
			infoText, _ := os.ReadFile(info)
			golden(t, filepath.Join("testdata", "export", tc.name+".dataset_info.json"), infoText)

			out, err := exec.Command("/usr/bin/python3", "-c", pyCheck, tc.format, data, info, tc.name).CombinedOutput()
			if err != nil {
				t.Fatalf("python json: %v\n%s", err, out)
			}
			var parsed struct {
				Examples [][][2]string
				Entry    map[string]any
			}
			if err := json.Unmarshal(out, &parsed); err != nil {
				t.Fatalf("python output %s: %v", out, err)
			}
			if len(parsed.Examples) != len(rows) {
				t.Fatalf("python read %d examples", len(parsed.Examples))
			}
			for i, turns := range parsed.Examples {
				want := [][2]string{}
				if tc.hasSystem {
					want = append(want, [2]string{"system", "You are a helpful assistant."})
				}
				switch {
				case strings.HasPrefix(tc.name, "codegen"):
					want = append(want, [2]string{"user", ""}, [2]string{"assistant", "```python\n" + rows[i]["code"] + "```"})
				case tc.format == write.FormatAlpaca:
					want = append(want, [2]string{"user", rows[i]["problem"]}, [2]string{"assistant", "The answer is " + rows[i]["answer"] + "."})
				default:
					want = append(want, [2]string{"user", rows[i]["problem"]}, [2]string{"assistant", rows[i]["answer"]})
				}
				if !equalTurns(turns, want) {
					t.Errorf("example %d: %q, want %q", i, turns, want)
				}
			}
			if parsed.Entry["file_name"] != tc.name+".jsonl" {
				t.Errorf("entry: %v", parsed.Entry)
			}
			var all map[string]any
			json.Unmarshal(infoText, &all)
			if _, ok := all["other"]; !ok || len(all) != 2 {
				t.Errorf("dataset_info lost an entry: %s", infoText)
			}
		})
	}
}

func equalTurns(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./operators/write -run TestExport -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, got, want)
	}
}

func TestExportRejectsNonStrings(t *testing.T) {
	mem := checked(t)
	path := filepath.Join(t.TempDir(), "out.jsonl")
	p, _ := optest.Plan(t, "write", "path: "+path+"\nformat: messages\nroles: {user: text, assistant: text}\n", inSchema)
	r1 := optest.Record(t, mem, inSchema, batch1)
	defer r1.Release()
	res := optest.Run(t, p, mem, nil, r1)
	// row 1 has text null: rejected, not written, not passed on
	if len(res.Rejects) != 1 || res.Rejects[0].Row != 1 || res.Rejects[0].Reason != write.ReasonExport ||
		!strings.Contains(res.Rejects[0].Detail, "roles.user") || len(res.Rows) != 1 {
		t.Fatalf("rejects %+v rows %v", res.Rejects, res.Rows)
	}
	got, _ := os.ReadFile(path)
	if string(got) != `{"messages":[{"role":"user","content":"a \"quoted\"\nline ✓"},{"role":"assistant","content":"a \"quoted\"\nline ✓"}]}`+"\n" {
		t.Errorf("file: %s", got)
	}
}

func TestExportMarkdown(t *testing.T) {
	mem := checked(t)
	path := filepath.Join(t.TempDir(), "table.md")
	run(t, mem, "path: "+path+"\ncolumns: [id, text, score, ok]")
	got, _ := os.ReadFile(path)
	want := "| id | text | score | ok |\n|---:|---|---:|---|\n" +
		"| 1 | a \"quoted\"<br>line ✓ | 0.5 | true |\n| 2 |  | 0.0000001 | false |\n| 3 |  | 3.0 |  |\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// no rows: the header alone
	p, _ := optest.Plan(t, "write", "path: "+path+"\ncolumns: [id, text]\noverwrite: true", inSchema)
	optest.Run(t, p, mem, nil)
	got, _ = os.ReadFile(path)
	if string(got) != "| id | text |\n|---:|---|\n" {
		t.Errorf("empty table: %q", got)
	}
}

func TestExportPlanErrors(t *testing.T) {
	cases := []struct{ cfg, want string }{
		{"path: x.jsonl\nformat: sharegpt\nroles: {user: text}\n", "needs roles.assistant"},
		{"path: x.jsonl\nformat: alpaca\nroles: {user: text, assistant: id}\n", "must give a string"},
		{"path: x.jsonl\nformat: messages\ncolumns: [id]\nroles: {user: text, assistant: text}\n", "columns: is not used"},
		{"path: x.jsonl\nroles: {user: text, assistant: text}\n", "roles: is for format"},
		{"path: x.md\ndataset_info: i.json\n", "not markdown"},
		{"path: x.jsonl\nformat: messages\nroles: {user: txt, assistant: text}\n", `no column "txt"`},
	}
	for _, tc := range cases {
		_, _, diags := optest.PlanDiags(t, "write", tc.cfg, inSchema)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.want) {
			t.Errorf("%q: %q, want %q", tc.cfg, diags.Error(), tc.want)
		}
	}
}
