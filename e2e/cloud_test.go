package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// TestCloudErrors: each mistake a cloud user meets gets its message and a
// non-zero exit, and leaves nothing at the destination.
func TestCloudErrors(t *testing.T) {
	s := newSandbox(t)
	s.config("multipart_min_threshold_mb", "6", "multipart_chunk_size_mb", "5")
	s3b, lb := s3Backend(t, s), localBackend(s)
	gcsBackend(t, s)   // points skyplane at the GCS server
	azureBackend(t, s) // and at Azurite
	src := s3b.bucket(t)
	s3b.put(t, src, "data/a", []byte("a"))
	dstS3, dstLocal := s3b.bucket(t), lb.bucket(t)

	tests := []struct {
		name  string
		env   []string
		args  []string
		code  int
		wants []string
	}{
		{"missing s3 source bucket", nil, []string{"cp", "-r", "-y", "s3://no-such-bucket-skyplane/data", dstLocal}, 1, []string{"no-such-bucket-skyplane", "not found"}},
		{"missing s3 destination bucket", nil, []string{"cp", "-r", "-y", join(src, "data"), "s3://no-such-bucket-skyplane/out"}, 1, []string{"no-such-bucket-skyplane", "not found"}},
		{"missing gcs bucket", nil, []string{"cp", "-r", "-y", "gs://no-such-bucket-skyplane/data", dstLocal}, 1, []string{"no-such-bucket-skyplane", "not found"}},
		{"missing azure container", nil, []string{"cp", "-r", "-y", "azure://devstoreaccount1/no-such-container/data", dstLocal}, 1, []string{"no-such-container", "not found"}},
		{"wrong s3 secret", []string{"AWS_SECRET_ACCESS_KEY=wrong"}, []string{"cp", "-r", "-y", join(src, "data"), dstLocal}, 1, []string{"access denied", "credential"}},
		{"missing s3 object", nil, []string{"cp", "-y", join(src, "data/nope"), dstLocal + "/x"}, 1, []string{"no such object", "-r"}},
		{"s3 prefix without -r", nil, []string{"cp", "-y", join(src, "data"), dstLocal + "/x"}, 1, []string{"no such object", "-r"}},
		{"empty s3 prefix", nil, []string{"cp", "-r", "-y", join(src, "nothing"), join(dstS3, "out")}, 1, []string{"no objects found at prefix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.run(tt.env, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\n%s\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.wants {
				if !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(w)) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if keys := s3b.list(t, dstS3, ""); len(keys) != 0 {
				t.Errorf("s3 destination not empty: %v", keys)
			}
			if got := listTree(t, dstLocal); len(got) != 0 {
				t.Errorf("local destination not empty: %v", got)
			}
		})
	}
}

// TestFatalFailureAbortsUploads: every frame corrupted, so a striped object
// exhausts its attempts; the transfer fails and, on every cloud store, no
// object and no multipart upload / uncommitted piece is left behind.
func TestFatalFailureAbortsUploads(t *testing.T) {
	s := newSandbox(t)
	s.config("multipart_min_threshold_mb", "6", "multipart_chunk_size_mb", "5")
	lb := localBackend(s)
	src := lb.bucket(t)
	lb.put(t, src, "data/striped", randomBytes(t, 12<<20))
	for _, b := range []backend{s3Backend(t, s), gcsBackend(t, s), azureBackend(t, s)} {
		t.Run(b.name, func(t *testing.T) {
			dst := b.bucket(t)
			r := s.run([]string{"SKYPLANE_TEST_CORRUPT_FRAMES=1000000"}, "cp", "-r", "-y", join(src, "data"), join(dst, "out"))
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
			}
			// Listing the whole bucket raw also shows temporary compose
			// pieces (GCS) if any were left.
			if keys := b.list(t, dst, ""); len(keys) != 0 {
				t.Errorf("objects left at the destination: %v", keys)
			}
			if b.name == "s3" {
				assertNoS3Uploads(t, dst)
			}
		})
	}
}

func assertNoS3Uploads(t *testing.T, bucketURL string) {
	t.Helper()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_ENDPOINT")), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_ACCESS_KEY"), objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_SECRET_KEY"), ""),
	})
	out, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(strings.TrimPrefix(bucketURL, "s3://"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("dangling multipart uploads: %d", len(out.Uploads))
	}
}

// TestKeyMappingOnRealBucket: the key-mapping rules on S3, with folder-marker keys.
func TestKeyMappingOnRealBucket(t *testing.T) {
	s := newSandbox(t)
	b := s3Backend(t, s)
	src := b.bucket(t)
	for k, v := range map[string]string{
		"foo/": "", "foo/a": "A", "foo/sub/": "", "foo/sub/b": "B", "foobar/a": "X", "top": "T",
	} {
		b.put(t, src, k, []byte(v))
	}
	tests := []struct {
		name string
		src  string
		dst  string
		rec  bool
		want []string
	}{
		{"folder markers travel, foobar does not", "foo", "out", true, []string{"out/a", "out/sub/", "out/sub/b"}},
		{"trailing slashes", "foo/", "out/", true, []string{"out/a", "out/sub/", "out/sub/b"}},
		{"whole bucket", "", "all", true, []string{"all/foo/", "all/foo/a", "all/foo/sub/", "all/foo/sub/b", "all/foobar/a", "all/top"}},
		{"object into folder", "foo/a", "dir/", false, []string{"dir/a"}},
		{"object to exact key", "top", "renamed", false, []string{"renamed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := b.bucket(t)
			args := []string{"cp", "-y"}
			if tt.rec {
				args = append(args, "-r")
			}
			s.mustRun(append(args, join(src, tt.src), join(dst, tt.dst))...)
			got := b.list(t, dst, "")
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("destination keys %v, want %v", got, tt.want)
			}
		})
	}
	// Folder markers become directories on local disk, and verification
	// does not call them missing.
	dst := s.path("local-out")
	s.mustRun("cp", "-r", "-y", join(src, "foo"), dst)
	if fi, err := os.Stat(filepath.Join(dst, "sub")); err != nil || !fi.IsDir() {
		t.Errorf("folder marker foo/sub/ did not become a directory: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "sub", "b")); err != nil || string(b) != "B" {
		t.Errorf("sub/b = %q, %v", b, err)
	}
}
