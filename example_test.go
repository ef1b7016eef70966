package skyplane_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skyplane-project/skyplane-go"
)

// exampleDirs makes a source folder holding files and an empty folder to
// copy into, under one temporary folder that cleanup removes.
func exampleDirs(files map[string]string) (src, dst string, cleanup func()) {
	root, err := os.MkdirTemp("", "skyplane-example-")
	if err != nil {
		panic(err)
	}
	src, dst = filepath.Join(root, "src"), filepath.Join(root, "dst")
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			panic(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			panic(err)
		}
	}
	return src, dst, func() { os.RemoveAll(root) }
}

// read returns a copied file's content, or the error.
func read(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func ExampleClient_Copy() {
	src, dst, cleanup := exampleDirs(map[string]string{"a.txt": "alpha", "logs/b.txt": "beta"})
	defer cleanup()
	client := skyplane.NewClient(skyplane.DefaultConfig())
	res, err := client.Copy(context.Background(), src, dst, skyplane.CopyOptions{Recursive: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Objects, "objects,", res.Bytes, "bytes")
	fmt.Println(read(filepath.Join(dst, "logs", "b.txt")))
	// Output:
	// 2 objects, 9 bytes
	// beta
}

func ExampleClient_Broadcast() {
	src, dst, cleanup := exampleDirs(map[string]string{"a.txt": "alpha"})
	defer cleanup()
	client := skyplane.NewClient(skyplane.DefaultConfig())
	dsts := []string{dst + "/one", dst + "/two"}
	res, err := client.Broadcast(context.Background(), src, dsts, skyplane.CopyOptions{Recursive: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Objects, "object,", res.Bytes, "bytes landed")
	fmt.Println(read(dst+"/one/a.txt"), read(dst+"/two/a.txt"))
	// Output:
	// 1 object, 10 bytes landed
	// alpha alpha
}

func ExampleClient_Sync() {
	src, dst, cleanup := exampleDirs(map[string]string{"a.txt": "alpha", "b.txt": "beta"})
	defer cleanup()
	client := skyplane.NewClient(skyplane.DefaultConfig())
	ctx := context.Background()
	for range 2 {
		res, err := client.Sync(ctx, src, dst, skyplane.SyncOptions{Delete: true})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("copied", res.Objects)
	}
	// Output:
	// copied 2
	// copied 0
}

func ExampleClient_PreviewCopy() {
	src, dst, cleanup := exampleDirs(map[string]string{"a.txt": "alpha", "b.txt": "beta"})
	defer cleanup()
	client := skyplane.NewClient(skyplane.DefaultConfig())
	p, err := client.PreviewCopy(context.Background(), src, []string{dst}, skyplane.PreviewOptions{Recursive: true, MaxSamples: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Objects, "objects,", p.Bytes, "bytes,", len(p.Samples), "sample")
	// Output: 2 objects, 9 bytes, 1 sample
}

func ExampleClient_PreviewSync() {
	src, dst, cleanup := exampleDirs(map[string]string{"a.txt": "alpha", "b.txt": "beta"})
	defer cleanup()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		panic(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "old.txt"), []byte("gone"), 0o644); err != nil {
		panic(err)
	}
	client := skyplane.NewClient(skyplane.DefaultConfig())
	_, err := client.PreviewSync(context.Background(), src, dst, skyplane.PreviewOptions{
		Delete: true,
		Each:   func(s skyplane.Sample) { fmt.Println(s.Op, filepath.Base(s.Dst)) },
	})
	if err != nil {
		fmt.Println(err)
	}
	// Unordered output:
	// missing a.txt
	// missing b.txt
	// delete old.txt
}

func ExampleClient_Plan() {
	client := skyplane.NewClient(skyplane.DefaultConfig())
	groups, err := client.Plan(context.Background(), "/data/in", []string{"/data/out"}, skyplane.PlanOptions{Recursive: true, Gateways: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, g := range groups {
		fmt.Println(g.Region, g.Role, g.Gateways)
	}
	// Output:
	// local:src source 2
	// local:dst destination 2
}

// A dataplane serves several transfers over one set of gateways, like the
// Python client's dataplane.
func ExampleClient_Dataplane() {
	src, dst, cleanup := exampleDirs(map[string]string{"a.txt": "alpha", "b.txt": "beta"})
	defer cleanup()
	client := skyplane.NewClient(skyplane.DefaultConfig())
	dp, err := client.Dataplane(skyplane.DataplaneOptions{Gateways: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	err = dp.AutoDeprovision(ctx, func(dp *skyplane.Dataplane) error {
		if err := dp.QueueCopy(src, dst+"/copy", skyplane.QueueCopyOptions{Recursive: true}); err != nil {
			return err
		}
		if err := dp.QueueSync(src, dst+"/mirror", skyplane.QueueSyncOptions{}); err != nil {
			return err
		}
		res, err := dp.Run(ctx, nil)
		if err != nil {
			return err
		}
		fmt.Println(res.Objects, "objects")
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(read(dst+"/copy/a.txt"), read(dst+"/mirror/b.txt"))
	// Output:
	// 4 objects
	// alpha beta
}

// RunAsync returns at once; the tracker's State says when the transfer
// ended (a byte count is 0 before the listing starts).
func ExampleDataplane_RunAsync() {
	src, dst, cleanup := exampleDirs(map[string]string{"big": strings.Repeat("x", 4<<20)})
	defer cleanup()
	client := skyplane.NewClient(skyplane.DefaultConfig())
	dp, err := client.Dataplane(skyplane.DataplaneOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := dp.Provision(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer dp.Deprovision(ctx)
	if err := dp.QueueCopy(src, dst, skyplane.QueueCopyOptions{Recursive: true}); err != nil {
		fmt.Println(err)
		return
	}
	t := dp.RunAsync(ctx)
	for t.State() != skyplane.Finished {
		time.Sleep(10 * time.Millisecond)
	}
	res, err := t.Wait()
	if err != nil {
		fmt.Println(err)
		return
	}
	left, known := t.BytesRemaining()
	fmt.Println(res.Bytes, "bytes copied,", left, "left, final:", known)
	// Output: 4194304 bytes copied, 0 left, final: true
}

// Code written for the Python client provisions inside AutoDeprovision,
// which has provisioned already: that Provision does nothing.
func ExampleDataplane_AutoDeprovision() {
	client := skyplane.NewClient(skyplane.DefaultConfig())
	dp, err := client.Dataplane(skyplane.DataplaneOptions{
		Src: skyplane.Region{Cloud: "local"},
		Dst: skyplane.Region{Cloud: "local"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	err = dp.AutoDeprovision(ctx, func(dp *skyplane.Dataplane) error {
		return dp.Provision(ctx)
	})
	fmt.Println("error:", err)
	// Output: error: <nil>
}

func ExampleNewFilter() {
	src, dst, cleanup := exampleDirs(map[string]string{"a.csv": "1,2", "b.log": "noise", "x/c.csv": "3,4"})
	defer cleanup()
	f, err := skyplane.NewFilter([]string{"*.csv", "**/*.csv"}, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	client := skyplane.NewClient(skyplane.DefaultConfig(), skyplane.WithFilter(f))
	res, err := client.Copy(context.Background(), src, dst, skyplane.CopyOptions{Recursive: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, statErr := os.Stat(filepath.Join(dst, "b.log"))
	fmt.Println(res.Objects, "objects; b.log copied:", statErr == nil)
	// Output: 2 objects; b.log copied: false
}

func ExampleConfig_Set() {
	cfg := skyplane.DefaultConfig()
	if err := cfg.Set("max_instances", "4"); err != nil {
		fmt.Println(err)
	}
	fmt.Println(cfg.MaxInstances)
	err := cfg.Set("max_instances", "0")
	fmt.Println(err != nil)
	// Output:
	// 4
	// true
}

// Errors are typed: branch with errors.Is.
func ExampleErrNotFound() {
	src, dst, cleanup := exampleDirs(map[string]string{"a.txt": "alpha"})
	defer cleanup()
	client := skyplane.NewClient(skyplane.DefaultConfig())
	_, err := client.Copy(context.Background(), src+"/missing.txt", dst, skyplane.CopyOptions{})
	fmt.Println(errors.Is(err, skyplane.ErrNotFound))
	// Output: true
}

func ExampleClient_Deprovision() {
	state, err := os.MkdirTemp("", "skyplane-example-state-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(state)
	client := skyplane.NewClient(skyplane.DefaultConfig())
	res, err := client.Deprovision(context.Background(), skyplane.DeprovisionOptions{StateDir: state})
	fmt.Println(res.GatewaysStopped, res.Abandoned.Transfers, err)
	// Output: 0 0 <nil>
}

func ExampleClient_Abandon() {
	state, err := os.MkdirTemp("", "skyplane-example-state-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(state)
	client := skyplane.NewClient(skyplane.DefaultConfig())
	res, err := client.Abandon(context.Background(), skyplane.DeprovisionOptions{StateDir: state})
	fmt.Println(res.UploadsAborted, len(res.Failed), err)
	// Output: 0 0 <nil>
}
