package recipetest

// FormatVersion is the test file format this engine reads (the
// `caco-test:` key).
const FormatVersion = 1

// Keys of a test file.
const (
	KeyCacoTest    = "caco-test"
	KeyRecipe      = "recipe"
	KeyDescription = "description"
	KeySet         = "set"
	KeyTimeout     = "timeout"
	KeyExpect      = "expect"

	// under expect
	KeySteps   = "steps"
	KeyOutputs = "outputs"

	// under expect.steps.NAME
	KeyRowsIn   = "rows_in"
	KeyRowsOut  = "rows_out"
	KeyRejected = "rejected"
	KeyRejects  = "rejects"
	KeyCounters = "counters"

	// under expect.outputs[i]
	KeyPath     = "path"
	KeyRows     = "rows"
	KeyColumns  = "columns"
	KeyContains = "contains"

	// a range count
	KeyMin = "min"
	KeyMax = "max"
)

// Type is the kind of value a test file key holds.
type Type string

const (
	TypeInt      Type = "int"
	TypeString   Type = "string"
	TypeDuration Type = "duration" // Go syntax: 30s, 2m
	// TypeCount is a row count: an integer (exact) or {min: N, max: M}
	// (inclusive; either bound may be left out).
	TypeCount   Type = "count"
	TypeCounts  Type = "map of counts" // free keys (reject reasons, counter names) → count
	TypeVars    Type = "map of values" // var name → scalar
	TypeStrings Type = "list of strings"
	TypeRows    Type = "list of rows" // each a mapping column → expected value
	TypeObject  Type = "mapping"      // the keys in Fields
	TypeObjects Type = "list"         // of mappings with the keys in Fields
	TypeSteps   Type = "map of steps" // step name → mapping with the keys in Fields
)

// Field documents one key of a test file. Spec is the whole format; the
// validator is driven by it, so it is also the list of known keys.
type Field struct {
	Name     string
	Type     Type
	Required bool
	Doc      string
	Fields   []Field // for TypeObject, TypeObjects and TypeSteps
}

// countFields are the keys of a range count.
var countFields = []Field{
	{Name: KeyMin, Type: TypeInt, Doc: "Smallest accepted count (inclusive)."},
	{Name: KeyMax, Type: TypeInt, Doc: "Largest accepted count (inclusive)."},
}

// Spec describes the test file format, top-level keys first.
var Spec = []Field{
	{Name: KeyCacoTest, Type: TypeInt, Required: true,
		Doc: "Test file format version; must be 1."},
	{Name: KeyRecipe, Type: TypeString,
		Doc: "The recipe under test, relative to the test file's folder. Default: the test file's name without .test (quickstart.test.yaml → quickstart.yaml)."},
	{Name: KeyDescription, Type: TypeString, Doc: "Free text."},
	{Name: KeySet, Type: TypeVars,
		Doc: "Var overrides, as `caco run --set name=value`: point model URLs at nothing and replay files, inputs at small fixtures. Every name must be a var the recipe declares. Relative paths resolve as the recipe resolves them (against the recipe's folder)."},
	{Name: KeyTimeout, Type: TypeDuration,
		Doc: "Fail the test when the run takes longer. Default 2m."},
	{Name: KeyExpect, Type: TypeObject, Required: true,
		Doc: "What the run must produce.",
		Fields: []Field{
			{Name: KeySteps, Type: TypeSteps,
				Doc: "Per-step counts from the run's stats.json, by step name. Only listed steps and listed keys are checked.",
				Fields: []Field{
					{Name: KeyRowsIn, Type: TypeCount, Doc: "Rows the step received."},
					{Name: KeyRowsOut, Type: TypeCount, Doc: "Rows the step passed on."},
					{Name: KeyRejected, Type: TypeCount, Doc: "Rows rejected, all reasons together."},
					{Name: KeyRejects, Type: TypeCounts,
						Doc: "Rejected rows by reason. The list is complete: a reason the run gives that is not listed fails the test (write `rejects: {}` for none)."},
					{Name: KeyCounters, Type: TypeCounts,
						Doc: "Operator counters (e.g. prompt_tokens) by name; only listed counters are checked."},
				}},
			{Name: KeyOutputs, Type: TypeObjects,
				Doc: "Files the run writes, checked after it ends.",
				Fields: []Field{
					{Name: KeyPath, Type: TypeString, Required: true,
						Doc: "The file, relative to the run folder (what ${run_dir} is in the recipe): out.jsonl for path: ${run_dir}/out.jsonl. JSON lines (.jsonl .ndjson .json) or Parquet (.parquet .pq)."},
					{Name: KeyRows, Type: TypeCount, Doc: "Number of rows in the file."},
					{Name: KeyColumns, Type: TypeStrings, Doc: "Columns the file must have (others may exist)."},
					{Name: KeyContains, Type: TypeRows,
						Doc: "Rows the file must contain. Each is a mapping of some columns to values; a row matches when those columns are equal (numbers by value, JSON values deeply, strings exactly, types strictly: \"12\" is not 12). Each expected row needs its own actual row."},
				}},
		}},
}

func names(fields []Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

func fieldOf(fields []Field, name string) (Field, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}
