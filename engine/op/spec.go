// Package op is the contract between the engine and its operators.
//
// Every operator registers a Spec: its recipe keys (fields with kinds,
// defaults, docs and examples), from which recipe validation, `caco ops` and
// the JSON Schema all come. The lifecycle of an operator instance is fixed:
//
//	New → decode (engine, strict against the spec) → Plan (validate, compile,
//	declare output columns) → Open → Read or Process (many) → Finish → Close
//
// The engine owns scheduling, ordering, checkpoints and the rejects ledger;
// an operator only turns batches into batches.
package op

import (
	"fmt"
	"sort"
	"sync"
)

// Kind is the type of a config value.
type Kind string

const (
	String   Kind = "string"
	Int      Kind = "int"
	Float    Kind = "float"
	Bool     Kind = "bool"
	Duration Kind = "duration" // Go duration syntax: 500ms, 5s, 10m
	Size     Kind = "size"     // bytes: 1048576, 512MB, 1GiB
	Enum     Kind = "enum"     // one of Field.Enum
	Path     Kind = "path"     // a file path (or glob); relative paths resolve against the recipe's folder
	Paths    Kind = "paths"    // a list of paths (a single path is accepted as a list of one)
	Expr     Kind = "expr"     // an expr-lang expression over the row's columns
	Template Kind = "template" // a Go text/template rendered with the row's columns
	Strings  Kind = "strings"  // a list of strings; a single string is accepted as a list of one
	Object   Kind = "object"   // a mapping with the keys in Field.Fields
	Objects  Kind = "objects"  // a list of objects with the keys in Field.Fields
	Map      Kind = "map"      // a mapping from free keys to values of kind Field.Elem (objects use Field.Fields)
	Any      Kind = "any"      // free-form YAML, handed over unchecked
)

// Field describes one recipe key of an operator (or of a nested object).
type Field struct {
	Name     string
	Kind     Kind
	Doc      string
	Default  any // nil means no default (the zero value, or required)
	Required bool
	Enum     []string // for Enum
	Fields   []Field  // for Object, Objects, and Map with Elem Object
	Elem     Kind     // for Map
	Secret   bool     // never written to manifests, fingerprints, logs or output
	Example  any
	// Min and Max bound Int, Float, Duration and Size values when non-nil.
	Min, Max *float64
	// Role marks Path and Paths fields that name files the step reads
	// (RoleInput; globs allowed) or writes (RoleOutput). Validation refuses
	// a recipe that writes a file one of its steps reads, or that writes one
	// file from two steps.
	Role Role
}

// Role is what a step does with the file a path field names.
type Role string

const (
	RoleInput  Role = "input"
	RoleOutput Role = "output"
)

// Bound returns a pointer to v, for Field.Min and Field.Max.
func Bound(v float64) *float64 { return &v }

// Spec is an operator's declaration.
type Spec struct {
	Name    string // the `op:` value
	Summary string // one line
	Doc     string // paragraphs
	// Version is part of every step fingerprint: bump it when the operator's
	// output for the same input and config changes.
	Version string
	Fields  []Field
	Example string // a YAML step, shown by `caco ops`
	// NoCheckpoint marks sinks: their output is not persisted; on resume they
	// see the whole stream again and must commit their results atomically in
	// Finish.
	NoCheckpoint bool
	// RowLocal marks operators whose output for a batch depends only on
	// that batch (its rows and its id) and the config, never on other
	// batches: load, map, filter, generate, exec. Sharded runs (`caco
	// slurm`, `--shard`) split row-local steps between machines; every
	// other operator is global (dedup, limit, vote, write), and the plan
	// puts a barrier before it where the shards meet (engine/cluster).
	RowLocal bool
	// New returns a fresh config value (a pointer to a struct with yaml tags
	// matching Fields) that implements Planner and one of Source, Processor.
	New func() Planner
}

// Field returns the named field, or nil.
func (s *Spec) Field(name string) *Field {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

var (
	regMu    sync.RWMutex
	registry = map[string]*Spec{}
)

// Register adds an operator; call it from an init function. It panics on a
// duplicate name, a spec without New, or a field that cannot be described.
func Register(s Spec) {
	regMu.Lock()
	defer regMu.Unlock()
	if s.Name == "" || s.New == nil {
		panic("op.Register: spec needs Name and New")
	}
	if _, dup := registry[s.Name]; dup {
		panic(fmt.Sprintf("op.Register: operator %q registered twice", s.Name))
	}
	for _, f := range s.Fields {
		if IsCommonKey(f.Name) {
			panic(fmt.Sprintf("op.Register: %s: field %q is an engine key", s.Name, f.Name))
		}
	}
	if s.Version == "" {
		s.Version = "1"
	}
	registry[s.Name] = &s
}

// Lookup returns the spec of a registered operator.
func Lookup(name string) (*Spec, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	s, ok := registry[name]
	return s, ok
}

// All returns every registered spec, sorted by name.
func All() []*Spec {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]*Spec, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the registered operator names, sorted.
func Names() []string {
	var out []string
	for _, s := range All() {
		out = append(out, s.Name)
	}
	return out
}

// Keys every step has, handled by the engine rather than the operator.
const (
	KeyOp          = "op"
	KeyInput       = "input"
	KeyInputs      = "inputs"
	KeyWorkers     = "workers"
	KeyDescription = "description"
)

// CommonFields describes the engine's step keys (for docs and the schema).
var CommonFields = []Field{
	{Name: KeyOp, Kind: String, Required: true, Doc: "The operator that runs this step."},
	{Name: KeyInput, Kind: String, Doc: "The one upstream step this step reads."},
	{Name: KeyInputs, Kind: Strings, Doc: "Several upstream steps (fan-in); their columns must agree. Rows arrive in a deterministic merged order."},
	{Name: KeyWorkers, Kind: Int, Default: 1, Min: Bound(1), Max: Bound(1024), Doc: "Batches processed in parallel by this step; output order stays deterministic. Only for stateless operators."},
	{Name: KeyDescription, Kind: String, Doc: "Free text shown by `caco graph`."},
}

// IsCommonKey reports whether name is an engine step key.
func IsCommonKey(name string) bool {
	for _, f := range CommonFields {
		if f.Name == name {
			return true
		}
	}
	return false
}
