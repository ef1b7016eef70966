package dataplane

import (
	"context"
)

// Preflight opens every store of the jobs and checks what can be checked
// before any gateway starts: buckets exist and are readable, and a single
// object exists. Errors here cost no provisioning.
func Preflight(ctx context.Context, jobs []*Resolved) error {
	for _, rj := range jobs {
		js, err := rj.stores(ctx)
		if err != nil {
			return err
		}
		if job := rj.Job; !job.Recursive && !job.Sync {
			for _, err := range copyItems(ctx, job, js.src) {
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Preview summarises what jobs would move without moving anything.
type Preview struct {
	Objects int64
	Bytes   int64
	Deletes int64
	Samples []Sample
}

// Sample is one "src => dst (size)" line of a plan.
type Sample struct {
	Src, Dst string
	Size     int64
	Op       string // copy, or for sync: the reason, or "delete"
}

// PreviewJobs streams the jobs' listings, counting and keeping the first
// maxSamples entries; each op is also handed to each (which may be nil).
func PreviewJobs(ctx context.Context, jobs []*Resolved, maxSamples int, each func(Sample)) (Preview, error) {
	var p Preview
	add := func(s Sample) {
		if len(p.Samples) < maxSamples {
			p.Samples = append(p.Samples, s)
		}
		if each != nil {
			each(s)
		}
	}
	for _, rj := range jobs {
		js, err := rj.stores(ctx)
		if err != nil {
			return p, err
		}
		job := rj.Job
		src, dsts := filterJobStores(job, js.src, js.dsts)
		if job.Sync {
			for op, err := range SyncOps(ctx, job.Src, job.Dsts[0], src, dsts[0], job.Delete) {
				if err != nil {
					return p, err
				}
				dstLoc := job.Dsts[0]
				dstLoc.Key = op.DstKey
				if op.Kind == "delete" {
					p.Deletes++
					add(Sample{Dst: dstLoc.String(), Op: "delete"})
					continue
				}
				srcLoc := job.Src
				srcLoc.Key = op.Src.Key
				p.Objects++
				p.Bytes += op.Src.Size
				add(Sample{Src: srcLoc.String(), Dst: dstLoc.String(), Size: op.Src.Size, Op: op.Reason})
			}
			continue
		}
		for it, err := range copyItems(ctx, job, src) {
			if err != nil {
				return p, err
			}
			p.Objects++
			p.Bytes += it.obj.Size
			srcLoc := job.Src
			srcLoc.Key = it.obj.Key
			for i, k := range it.dstKeys {
				dstLoc := job.Dsts[i]
				dstLoc.Key = k
				add(Sample{Src: srcLoc.String(), Dst: dstLoc.String(), Size: it.obj.Size, Op: "copy"})
			}
		}
	}
	return p, nil
}
