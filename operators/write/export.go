package write

// Export formats: training data for LLaMA-Factory (alpaca, sharegpt, OpenAI
// chat messages) and Markdown tables (for evaluation reports).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/caco-dev/caco/engine/op"
)

// Export formats.
const (
	FormatShareGPT = "sharegpt"
	FormatAlpaca   = "alpaca"
	FormatMessages = "messages"
	FormatMarkdown = "markdown"
)

// Field names of the export options.
const (
	FieldRoles       = "roles"
	FieldDatasetInfo = "dataset_info"
	FieldDatasetName = "dataset_name"
)

// Roles, in the order turns are written.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// ReasonExport rejects a row whose role expression gives null or a value
// that is not a string: the row is not written and not passed on.
const ReasonExport = "export_error"

var exportFormats = []string{FormatShareGPT, FormatAlpaca, FormatMessages, FormatMarkdown}

func isExport(format string) bool {
	for _, f := range exportFormats {
		if f == format {
			return true
		}
	}
	return false
}

func isTraining(format string) bool { return isExport(format) && format != FormatMarkdown }

var exportFields = []op.Field{
	{Name: FieldRoles, Kind: op.Object,
		Doc: "For format sharegpt, alpaca and messages: the expression (a column name, or any expression giving a string) " +
			"for each role. user and assistant are required; system is optional (an example without it has no system " +
			"turn). alpaca writes user as instruction, \"\" as input, assistant as output.",
		Example: map[string]any{"system": `"You are a helpful assistant."`, "user": "instruction", "assistant": "output"},
		Fields: []op.Field{
			{Name: RoleSystem, Kind: op.Expr, Doc: "The system prompt."},
			{Name: RoleUser, Kind: op.Expr, Doc: "The user turn (alpaca: instruction); '\"\"' for an empty turn."},
			{Name: RoleAssistant, Kind: op.Expr, Doc: "The assistant turn (alpaca: output): what is trained on."},
		}},
	{Name: FieldDatasetInfo, Kind: op.Path, Example: "${run_dir}/dataset_info.json",
		Doc: "For training formats: a LLaMA-Factory dataset_info.json to create or update with an entry for this file " +
			"(file_name relative to its folder, formatting, columns, tags). Other entries are kept."},
	{Name: FieldDatasetName, Kind: op.String,
		Doc: "The entry's name in dataset_info (default: the file name without extension)."},
}

// Export holds the export options of a write step (inlined in Config).
type Export struct {
	Roles struct {
		System    string `yaml:"system"`
		User      string `yaml:"user"`
		Assistant string `yaml:"assistant"`
	} `yaml:"roles"`
	DatasetInfo string `yaml:"dataset_info"`
	DatasetName string `yaml:"dataset_name"`

	format  string
	exprs   [3]*op.Expression // system, user, assistant
	cols    *arrow.Schema     // markdown: the columns
	started bool
	buf     []byte
}

var roleNames = [3]string{RoleSystem, RoleUser, RoleAssistant}

// plan checks the export options for format; it reports whether they are valid.
func (e *Export) plan(p op.PlanContext, format string, in, cols *arrow.Schema) bool {
	e.format = format
	if !isExport(format) {
		for _, f := range []string{FieldRoles, FieldDatasetInfo, FieldDatasetName} {
			if p.Has(f) {
				p.Errorf(f, "%s: is for format: %s", f, strings.Join(exportFormats, ", "))
				return false
			}
		}
		return true
	}
	if format == FormatMarkdown {
		for _, f := range []string{FieldRoles, FieldDatasetInfo, FieldDatasetName} {
			if p.Has(f) {
				p.Errorf(f, "%s: is for the training formats (sharegpt, alpaca, messages), not markdown", f)
				return false
			}
		}
		e.cols = cols
		return true
	}
	if p.Has(FieldColumns) {
		p.Errorf(FieldColumns, "columns: is not used by format %s: roles: says what goes in each turn", format)
		return false
	}
	ok := true
	srcs := [3]string{e.Roles.System, e.Roles.User, e.Roles.Assistant}
	for i, src := range srcs {
		field := FieldRoles + "." + roleNames[i]
		if strings.TrimSpace(src) == "" {
			if i > 0 {
				p.Errorf(FieldRoles, "format %s needs roles.%s: an expression (e.g. a column name) for that turn", format, roleNames[i])
				ok = false
			}
			continue
		}
		x := op.CompileExpr(p, field, src, in, false)
		if x == nil {
			ok = false
			continue
		}
		if t := x.ColumnType(); t != op.TypeString && t != op.TypeJSON {
			p.Errorf(field, "roles.%s must give a string, but %q is %s", roleNames[i], src, t)
			ok = false
			continue
		}
		e.exprs[i] = x
	}
	return ok
}

// process encodes the batch's rows in the export format and appends them to
// w; rows whose role values are not strings are rejected and left out of
// the returned record.
func (e *Export) process(w *fileWriter, b op.Batch) (op.Result, error) {
	rec := b.Record
	n := int(rec.NumRows())
	if e.format == FormatMarkdown {
		p, err := w.project(rec)
		if err != nil {
			return op.Result{}, err
		}
		defer p.Release()
		buf := e.header(e.buf[:0])
		for i := 0; i < n; i++ {
			buf = appendMarkdownRow(buf, p, i)
		}
		e.buf = buf
		if _, err := w.bw.Write(buf); err != nil {
			return op.Result{}, fmt.Errorf("writing %s: %w", w.tmp, err)
		}
		rec.Retain()
		return op.Result{Record: rec}, nil
	}
	var evs [3]*op.Evaluator
	for i, x := range e.exprs {
		if x == nil {
			continue
		}
		evs[i] = x.NewEvaluator()
		if err := evs[i].Bind(rec); err != nil {
			return op.Result{}, fmt.Errorf("write %s: %w", w.path, err)
		}
	}
	keep := make([]bool, n)
	var rejects []op.Reject
	buf := e.buf[:0]
	var vals [3]*string
rows:
	for r := 0; r < n; r++ {
		for i, ev := range evs {
			vals[i] = nil
			if ev == nil {
				continue
			}
			v, err := ev.Eval(r)
			if err != nil {
				rejects = append(rejects, op.Reject{Row: r, Reason: ReasonExport, Detail: fmt.Sprintf("roles.%s: %v", roleNames[i], err)})
				continue rows
			}
			s, isStr := v.(string)
			if !isStr {
				rejects = append(rejects, op.Reject{Row: r, Reason: ReasonExport,
					Detail: fmt.Sprintf("roles.%s: %q gave %s, not a string", roleNames[i], e.exprs[i].Source, describeValue(v))})
				continue rows
			}
			vals[i] = &s
		}
		keep[r] = true
		buf = e.appendExample(buf, vals)
		buf = append(buf, '\n')
	}
	e.buf = buf
	if _, err := w.bw.Write(buf); err != nil {
		return op.Result{}, fmt.Errorf("writing %s: %w", w.tmp, err)
	}
	if len(rejects) == 0 {
		rec.Retain()
		return op.Result{Record: rec}, nil
	}
	kept, err := op.Filter(b.Alloc, rec, keep)
	if err != nil {
		return op.Result{}, fmt.Errorf("write %s: %w", w.path, err)
	}
	return op.Result{Record: kept, Rejects: rejects}, nil
}

func describeValue(v any) string {
	if v == nil {
		return "null"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return fmt.Sprintf("%T %s", v, s)
}

// appendExample appends one training example as a JSON object (no newline).
func (e *Export) appendExample(buf []byte, vals [3]*string) []byte {
	sys, user, asst := vals[0], vals[1], vals[2]
	switch e.format {
	case FormatAlpaca:
		buf = append(buf, `{"instruction":`...)
		buf = op.AppendJSONString(buf, *user)
		buf = append(buf, `,"input":"","output":`...)
		buf = op.AppendJSONString(buf, *asst)
		if sys != nil {
			buf = append(buf, `,"system":`...)
			buf = op.AppendJSONString(buf, *sys)
		}
		return append(buf, '}')
	case FormatShareGPT:
		buf = append(buf, `{"conversations":[{"from":"human","value":`...)
		buf = op.AppendJSONString(buf, *user)
		buf = append(buf, `},{"from":"gpt","value":`...)
		buf = op.AppendJSONString(buf, *asst)
		buf = append(buf, `}]`...)
		if sys != nil {
			buf = append(buf, `,"system":`...)
			buf = op.AppendJSONString(buf, *sys)
		}
		return append(buf, '}')
	default: // messages
		buf = append(buf, `{"messages":[`...)
		if sys != nil {
			buf = append(buf, `{"role":"system","content":`...)
			buf = op.AppendJSONString(buf, *sys)
			buf = append(buf, `},`...)
		}
		buf = append(buf, `{"role":"user","content":`...)
		buf = op.AppendJSONString(buf, *user)
		buf = append(buf, `},{"role":"assistant","content":`...)
		buf = op.AppendJSONString(buf, *asst)
		return append(buf, `}]}`...)
	}
}

// header appends the Markdown table header once.
func (e *Export) header(buf []byte) []byte {
	if e.started {
		return buf
	}
	e.started = true
	buf = append(buf, '|')
	for _, f := range e.cols.Fields() {
		buf = append(buf, ' ')
		buf = append(buf, markdownCell(f.Name)...)
		buf = append(buf, " |"...)
	}
	buf = append(buf, "\n|"...)
	for _, f := range e.cols.Fields() {
		switch op.TypeName(f) {
		case op.TypeInt, op.TypeFloat:
			buf = append(buf, "---:|"...)
		default:
			buf = append(buf, "---|"...)
		}
	}
	return append(buf, '\n')
}

func appendMarkdownRow(buf []byte, rec arrow.Record, i int) []byte {
	buf = append(buf, '|')
	sc := rec.Schema()
	for c := 0; c < int(rec.NumCols()); c++ {
		f := sc.Field(c)
		v := op.Value(f, rec.Column(c), i)
		var s string
		switch t := v.(type) {
		case nil:
			s = ""
		case string:
			s = t
		case float64:
			s = strconv.FormatFloat(t, 'f', -1, 64)
			if !strings.ContainsAny(s, ".NI") { // a float column reads as one: 50.0
				s += ".0"
			}
		case int:
			s = strconv.Itoa(t)
		case bool:
			s = strconv.FormatBool(t)
		default:
			s = string(op.AppendJSONValue(nil, t))
		}
		buf = append(buf, ' ')
		buf = append(buf, markdownCell(s)...)
		buf = append(buf, " |"...)
	}
	return append(buf, '\n')
}

// markdownCell escapes pipes and turns newlines into <br> so a value stays
// in its cell.
func markdownCell(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r\n", "<br>")
	return strings.ReplaceAll(s, "\n", "<br>")
}

// finish writes the Markdown header of an empty table before the file is
// committed.
func (e *Export) finish(w *fileWriter) error {
	if e.format != FormatMarkdown || e.started {
		return nil
	}
	if _, err := w.bw.Write(e.header(nil)); err != nil {
		return fmt.Errorf("writing %s: %w", w.tmp, err)
	}
	return nil
}

// infoMu serialises updates of dataset_info files within the process (two
// write steps of a run may name the same one).
var infoMu sync.Mutex

// DatasetInfoEntry is the LLaMA-Factory dataset_info.json entry for a file
// written in format (file_name relative to the dataset_info folder).
func DatasetInfoEntry(format, fileName string, hasSystem bool) map[string]any {
	entry := map[string]any{"file_name": fileName}
	switch format {
	case FormatAlpaca:
		cols := map[string]any{"prompt": "instruction", "query": "input", "response": "output"}
		if hasSystem {
			cols["system"] = "system"
		}
		entry["columns"] = cols
	case FormatShareGPT:
		entry["formatting"] = "sharegpt"
		cols := map[string]any{"messages": "conversations"}
		if hasSystem {
			cols["system"] = "system"
		}
		entry["columns"] = cols
		entry["tags"] = map[string]any{"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}
	case FormatMessages:
		entry["formatting"] = "sharegpt"
		entry["columns"] = map[string]any{"messages": "messages"}
		entry["tags"] = map[string]any{"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"}
	}
	return entry
}

// writeDatasetInfo adds or replaces this file's entry in the dataset_info
// file, keeping other entries, written atomically.
func (e *Export) writeDatasetInfo(dataPath string) error {
	if e.DatasetInfo == "" || !isTraining(e.format) {
		return nil
	}
	infoMu.Lock()
	defer infoMu.Unlock()
	info := map[string]json.RawMessage{}
	if data, err := os.ReadFile(e.DatasetInfo); err == nil {
		if err := json.Unmarshal(data, &info); err != nil {
			return fmt.Errorf("updating %s: it is not a JSON object: %w", e.DatasetInfo, err)
		}
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("updating %s: %w", e.DatasetInfo, err)
	}
	absInfo, err := filepath.Abs(filepath.Dir(e.DatasetInfo))
	if err != nil {
		return fmt.Errorf("updating %s: %w", e.DatasetInfo, err)
	}
	absData, err := filepath.Abs(dataPath)
	if err != nil {
		return fmt.Errorf("updating %s: %w", e.DatasetInfo, err)
	}
	rel, err := filepath.Rel(absInfo, absData)
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = absData // LLaMA-Factory takes an absolute file_name too
	}
	name := e.DatasetName
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(dataPath), filepath.Ext(dataPath))
	}
	entry, err := json.Marshal(DatasetInfoEntry(e.format, filepath.ToSlash(rel), e.exprs[0] != nil))
	if err != nil {
		return err
	}
	info[name] = entry
	keys := make([]string, 0, len(info))
	for k := range info {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out bytes.Buffer
	out.WriteString("{\n")
	for i, k := range keys {
		var ind bytes.Buffer
		if err := json.Indent(&ind, info[k], "  ", "  "); err != nil {
			return fmt.Errorf("updating %s: entry %q: %w", e.DatasetInfo, k, err)
		}
		kb, _ := json.Marshal(k)
		out.WriteString("  ")
		out.Write(kb)
		out.WriteString(": ")
		out.Write(ind.Bytes())
		if i < len(keys)-1 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
	}
	out.WriteString("}\n")
	dir := filepath.Dir(e.DatasetInfo)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("creating the folder of %s: %w", e.DatasetInfo, err)
	}
	f, err := createTemp(dir, "."+filepath.Base(e.DatasetInfo)+".tmp-")
	if err != nil {
		return fmt.Errorf("updating %s: %w", e.DatasetInfo, err)
	}
	tmp := f.Name()
	_, werr := f.Write(out.Bytes())
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, e.DatasetInfo)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("updating %s: %w", e.DatasetInfo, werr)
	}
	return nil
}
