// Package all registers every operator shipped with caco; import it for its
// side effects.
package all

import (
	_ "github.com/caco-dev/caco/operators/aggregate"
	_ "github.com/caco-dev/caco/operators/backtranslate"
	_ "github.com/caco-dev/caco/operators/core"
	_ "github.com/caco-dev/caco/operators/dedup"
	_ "github.com/caco-dev/caco/operators/exec"
	_ "github.com/caco-dev/caco/operators/generate"
	_ "github.com/caco-dev/caco/operators/load"
	_ "github.com/caco-dev/caco/operators/verify"
	_ "github.com/caco-dev/caco/operators/write"
)
