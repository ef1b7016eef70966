package dataplane

// Counts is a number of objects and their bytes.
type Counts struct{ Objects, Bytes int64 }

// addAlreadyThere counts an object a resumed copy does not send again: the
// interrupted run finished it at every destination from the same source
// version (Progress.AlreadyThere, final once the listing is done).
func (r *run) addAlreadyThere(objects, bytes int64) {
	r.mu.Lock()
	r.prog.AlreadyThere.Objects += objects
	r.prog.AlreadyThere.Bytes += bytes
	r.mu.Unlock()
}
