package recipe_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caco-dev/caco/engine/recipe"
)

const slurmSteps = `
steps:
  a:
    op: map
    input: a
`

func TestSlurmDefaults(t *testing.T) {
	cases := []struct {
		name, text string
		want       *recipe.Slurm
		err        string
	}{
		{"absent", "caco: 1\n", nil, ""},
		{"all keys, with vars", "caco: 1\nvars: {part: gpu}\nslurm:\n  shards: 8\n  array_limit: 2\n  sbatch: [\"--partition=${vars.part}\", --time=4:00:00]\n",
			&recipe.Slurm{Shards: 8, ArrayLimit: 2, Sbatch: []string{"--partition=gpu", "--time=4:00:00"}}, ""},
		{"one sbatch string", "caco: 1\nslurm: {sbatch: --gres=gpu:1}\n", &recipe.Slurm{Sbatch: []string{"--gres=gpu:1"}}, ""},
		{"bad shards", "caco: 1\nslurm:\n  shards: 0\n", nil, "r.yaml:3:11: slurm.shards: want an integer >= 1"},
		{"unknown key", "caco: 1\nslurm:\n  shard: 4\n", nil, `r.yaml:3:3: slurm: unknown key "shard"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, errs := parse(t, tc.text+slurmSteps, recipe.Options{})
			if tc.err != "" {
				if !strings.Contains(errs, tc.err) {
					t.Fatalf("errors %q, want %q", errs, tc.err)
				}
				return
			}
			if strings.Contains(errs, "slurm") {
				t.Fatalf("errors: %s", errs)
			}
			if !reflect.DeepEqual(r.Slurm, tc.want) {
				t.Errorf("Slurm = %+v, want %+v (errors: %s)", r.Slurm, tc.want, errs)
			}
		})
	}
}
