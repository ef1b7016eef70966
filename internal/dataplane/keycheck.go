package dataplane

import (
	"errors"
	"fmt"
	"iter"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Failure is one object that could not be copied while the others were.
type Failure struct {
	Src, Dst string // URLs
	Reason   string
}

// ErrObjectsFailed: some objects could not be copied, everything else
// landed and was verified; Result.Failed names them.
var ErrObjectsFailed = errors.New("some objects could not be copied")

// checkKeys drops the objects a destination cannot hold (objstore.KeyChecker:
// "a//b" on local disk), recording each as a Failure before anything is
// sent, so that one such key neither stops the others nor is retried.
func (r *run) checkKeys(js jobStores, items iter.Seq2[item, error]) iter.Seq2[item, error] {
	return func(yield func(item, error) bool) {
		for it, err := range items {
			if err == nil {
				if f, bad := js.unrepresentable(it); bad {
					r.mu.Lock()
					r.result.Failed = append(r.result.Failed, f)
					r.mu.Unlock()
					continue
				}
			}
			if !yield(it, err) {
				return
			}
		}
	}
}

// unrepresentable returns the failure of an object some destination cannot
// hold; a broadcast then sends it to none, so every destination ends alike.
func (js jobStores) unrepresentable(it item) (Failure, bool) {
	for i, key := range it.dstKeys {
		kc, ok := js.dsts[i].(objstore.KeyChecker)
		if !ok {
			continue
		}
		if err := kc.CheckKey(key); err != nil {
			src, dst := js.job.Src, js.job.Dsts[i]
			src.Key, dst.Key = it.obj.Key, key
			return Failure{Src: src.String(), Dst: dst.String(), Reason: err.Error()}, true
		}
	}
	return Failure{}, false
}

// failedErr is the error of a run that left objects out (nil if none).
func failedErr(failed []Failure) error {
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d object(s), the first %s: %s", ErrObjectsFailed, len(failed), failed[0].Src, failed[0].Reason)
}
