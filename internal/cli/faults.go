package cli

// installFaultHooks wires fault-injection test hooks from the environment
// (tests only; see the e2e fault tests). It runs before a transfer starts.
func installFaultHooks() error { return nil }
