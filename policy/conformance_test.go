package policy

import "github.com/pgveil/pgveil/proxy"

// The engine and the role lookup implement the proxy's consumer-side
// interfaces. (Asserted in a test file: policy itself must not import
// proxy, which would invert the dependency direction.)
var (
	_ proxy.Decider        = (*Engine)(nil)
	_ proxy.SessionDecider = (*Engine)(nil)
	_ proxy.RoleLookup     = (*RoleLookup)(nil)
)
