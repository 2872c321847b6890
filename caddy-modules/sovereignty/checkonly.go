package sovereignty

import "sync/atomic"

// checkOnly is set in a process that only validates configurations.
var checkOnly atomic.Bool

// CheckOnly tells the app that this process validates configurations and
// will serve none (`sovgate validate`). Caddy provisions every module the
// same way to validate a configuration and to run it, and does not say
// which; provisioning opens the audit store and makes its spool, which
// would leave a database and directories behind a mere check. With
// CheckOnly, the app checks that it could open and write them instead.
func CheckOnly() { checkOnly.Store(true) }
