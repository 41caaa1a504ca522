// Package recipetest runs caco recipes against fixtures declared beside
// them and checks what they produce: `caco test`, for CI.
//
// # Test files
//
// A test file sits next to its recipe and is named after it:
// recipes/quickstart.test.yaml tests recipes/quickstart.yaml (so a glob for
// recipes can leave *.test.yaml out). Example (testdata/recipetest/
// example.test.yaml is a complete one):
//
//	caco-test: 1
//	recipe: quickstart.yaml          # default: this file's name without .test
//	description: offline run on the replay fixtures
//	set:                             # var overrides, as caco run --set
//	  instruct_url: ""
//	  seeds: ../testdata/seeds/small.jsonl
//	timeout: 2m                      # default 2m
//	expect:
//	  steps:                         # counts from stats.json, by step name
//	    exec:  {rows_in: 120, rows_out: 87, rejects: {exception: 9, too_short: 4}}
//	    dedup: {rows_out: {min: 60, max: 75}}
//	  outputs:
//	    - path: out.jsonl            # relative to the run folder (${run_dir})
//	      rows: 42
//	      columns: [instruction, answer]
//	      contains:                  # rows that must be there; listed columns only
//	        - {instruction: "What is 3 * 4?", answer: "12"}
//
// Spec lists every key with its type and doc. In short:
//
//   - caco-test (required): 1.
//   - recipe: the recipe, relative to the test file's folder.
//   - set: vars to override; each must be declared by the recipe.
//   - timeout: the run's time limit (Go duration).
//   - expect.steps.NAME: rows_in, rows_out, rejected (counts), rejects
//     (reason → count; the complete list: an unlisted reason the run gives
//     fails; `rejects: {}` means none), counters (name → count; only those
//     listed). Unlisted steps and keys are not checked.
//   - expect.outputs[]: path (relative to the run folder; .jsonl .ndjson
//     .json or .parquet .pq), rows (count), columns (must exist), contains
//     (rows that must exist: a row matches when its listed columns are
//     equal; numbers compare by value, strings exactly, JSON values deeply,
//     and types strictly, so "12" is not 12; each expected row needs its own
//     actual row).
//
// A count is a non-negative integer (exact) or a range {min: N, max: M}
// (inclusive; either bound may be left out).
//
// Test files are validated like recipes: unknown keys (with a did-you-mean),
// wrong types, `set:` names the recipe does not declare and `expect.steps`
// names it does not have are FILE:LINE:COL diagnostics (Validate), and the
// recipe itself is validated with the test's overrides.
//
// # Contract
//
//   - Load/Parse read a test file (diagnostics for its own keys); Validate
//     also parses and plans the recipe it names. Neither runs anything.
//   - Run makes a fresh temporary run folder, runs the recipe in-process
//     (recipe.Parse with Set and RunDir, plan.Build, run.Run with Fresh),
//     bounded by the timeout, reads the expected output files, and compares
//     (Check). The run folder is removed unless Options.Keep. Operators are
//     not imported here: the caller registers them (cmd/caco imports
//     operators/all).
//   - Check compares stats and outputs with the expectations; every failure
//     carries the expectation's FILE:LINE:COL, the step or output, the
//     field, want and got; a missing row comes with the closest actual row
//     and how it differs.
//   - Update rewrites the counts of a test file from a completed run
//     (numbers edited in place when possible, keeping comments and layout).
//   - RunAll is `caco test`: arguments to test files (Targets: x.yaml means
//     x.test.yaml, both named means once, a recipe without a test file
//     fails with "no test file"), run one after another, a line per test,
//     exit 0 (all pass), 1 (a failure), 2 (usage).
package recipetest
