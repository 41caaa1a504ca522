package run

import (
	"fmt"

	"github.com/caco-dev/caco/engine/plan"
)

// Fingerprints returns every step's fingerprint, as the runner computes it
// in a run folder whose secret key key returns (engine/cluster checks that
// shards ran the same recipe).
func Fingerprints(p *plan.Plan, key func() ([]byte, error)) (map[string]string, error) {
	fps := map[string]string{}
	for _, n := range p.Nodes {
		fp, _, err := fingerprint(p, n, fps, key)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", n.Name(), err)
		}
		fps[n.Name()] = fp
	}
	return fps, nil
}

// SourceShift is the bit position of the source index in a batch id: the
// bits below it number a source's batches.
const SourceShift = sourceShift
