package recipe

import (
	"strconv"

	"github.com/caco-dev/caco/engine/diag"
	"go.yaml.in/yaml/v3"
)

// KeySlurm is the top-level key of a recipe's defaults for `caco slurm`.
const KeySlurm = "slurm"

// Slurm holds a recipe's defaults for `caco slurm`; its flags override
// them (--sbatch arguments are added after the recipe's).
type Slurm struct {
	Shards     int      // --shards
	ArrayLimit int      // --array-limit
	Sbatch     []string // --sbatch, repeated
}

var slurmKeys = []string{"shards", "array_limit", "sbatch"}

// slurmSchema is the `slurm:` entry of the recipe JSON Schema.
var slurmSchema = map[string]any{
	"type": "object", "additionalProperties": false,
	"description": "Defaults for `caco slurm` (its flags override them).",
	"properties": map[string]any{
		"shards":      map[string]any{"type": "integer", "minimum": 1, "description": "Shards of every array phase (--shards)."},
		"array_limit": map[string]any{"type": "integer", "minimum": 0, "description": "Array tasks running at once (--array-limit)."},
		"sbatch":      map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": "Arguments for every sbatch, e.g. --partition=gpu (--sbatch)."},
	},
}

// slurm reads the `slurm:` mapping.
func (p *parser) slurm(n *yaml.Node) {
	if n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	p.interpolate(n, KeySlurm)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "slurm: want a mapping with the keys shards, array_limit, sbatch")
		return
	}
	s := &Slurm{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "shards", "array_limit":
			x, err := strconv.Atoi(v.Value)
			min := 1
			if k.Value == "array_limit" {
				min = 0
			}
			if v.Kind != yaml.ScalarNode || err != nil || x < min {
				p.errorf(v, "slurm.%s: want an integer >= %d, got %q", k.Value, min, v.Value)
				continue
			}
			if k.Value == "shards" {
				s.Shards = x
			} else {
				s.ArrayLimit = x
			}
		case "sbatch":
			switch v.Kind {
			case yaml.ScalarNode:
				s.Sbatch = append(s.Sbatch, v.Value)
			case yaml.SequenceNode:
				for _, a := range v.Content {
					if a.Kind != yaml.ScalarNode {
						p.errorf(a, "slurm.sbatch: want strings such as --partition=gpu")
						continue
					}
					s.Sbatch = append(s.Sbatch, a.Value)
				}
			default:
				p.errorf(v, "slurm.sbatch: want a list of strings such as --partition=gpu")
			}
		default:
			p.errorHint(k, diag.DidYouMean(k.Value, slurmKeys), "slurm: unknown key %q (keys: shards, array_limit, sbatch)", k.Value)
		}
	}
	p.r.Slurm = s
}
