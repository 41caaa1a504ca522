// Package all registers every operator shipped with caco; import it for its
// side effects.
package all

import (
	_ "github.com/caco-dev/caco/operators/core"
	_ "github.com/caco-dev/caco/operators/load"
	_ "github.com/caco-dev/caco/operators/write"
)
