package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// backend drives one kind of store for the tests through its official SDK
// (or the file system), independently of skyplane's own backends.
type backend struct {
	name string
	// bucket creates a fresh, empty bucket and returns its URL.
	bucket func(t *testing.T) string
	put    func(t *testing.T, bucketURL, key string, data []byte)
	// get returns an object's content, or false when it does not exist.
	get  func(t *testing.T, bucketURL, key string) ([]byte, bool)
	list func(t *testing.T, bucketURL, prefix string) []string
}

func randomName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func join(bucketURL, key string) string { return strings.TrimSuffix(bucketURL, "/") + "/" + key }

func localBackend(s *sandbox) backend {
	return backend{
		name: "local",
		bucket: func(t *testing.T) string {
			dir := s.path(randomName("bucket-"))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			return dir
		},
		put: func(t *testing.T, b, key string, data []byte) { writeFile(t, filepath.Join(b, key), data) },
		get: func(t *testing.T, b, key string) ([]byte, bool) {
			data, err := os.ReadFile(filepath.Join(b, key))
			return data, err == nil
		},
		list: func(t *testing.T, b, prefix string) []string {
			var keys []string
			for k := range listTree(t, filepath.Join(b, prefix)) {
				keys = append(keys, prefix+k)
			}
			sort.Strings(keys)
			return keys
		},
	}
}

// s3Backend talks to the S3 test server; it also points the sandbox's
// skyplane at it (endpoint in config, credentials in the environment).
func s3Backend(t *testing.T, s *sandbox) backend {
	endpoint := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_ENDPOINT")
	s.config("s3_endpoint", endpoint)
	return s3BackendOn(t, s, "s3", endpoint, "us-east-1", nil)
}

// s3bBackend talks to the second S3 test server (another region); each
// bucket it creates is named in the sandbox's s3_bucket_endpoints.
func s3bBackend(t *testing.T, s *sandbox) backend {
	endpoint := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3B_ENDPOINT")
	var pairs []string
	return s3BackendOn(t, s, "s3b", endpoint, "us-west-2", func(bucket string) {
		pairs = append(pairs, bucket+"="+endpoint)
		s.config("s3_bucket_endpoints", strings.Join(pairs, ","))
	})
}

func s3BackendOn(t *testing.T, s *sandbox, name, endpoint, region string, created func(bucket string)) backend {
	key := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_ACCESS_KEY")
	secret := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_SECRET_KEY")
	s.env = append(s.env, "AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	client := s3.New(s3.Options{
		Region: region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
	ctx := context.Background()
	bucketOf := func(u string) string { return strings.TrimPrefix(u, "s3://") }
	return backend{
		name: name,
		bucket: func(t *testing.T) string {
			name := randomName("sky-")
			if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
				t.Fatalf("create bucket: %v", err)
			}
			if created != nil {
				created(name)
			}
			return "s3://" + name
		},
		put: func(t *testing.T, b, k string, data []byte) {
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucketOf(b)), Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
		},
		get: func(t *testing.T, b, k string) ([]byte, bool) {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucketOf(b)), Key: aws.String(k)})
			if err != nil {
				return nil, false
			}
			defer out.Body.Close()
			data, err := io.ReadAll(out.Body)
			if err != nil {
				t.Fatal(err)
			}
			return data, true
		},
		list: func(t *testing.T, b, prefix string) []string {
			var keys []string
			p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucketOf(b)), Prefix: aws.String(prefix)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range page.Contents {
					keys = append(keys, *o.Key)
				}
			}
			return keys
		},
	}
}

func gcsBackend(t *testing.T, s *sandbox) backend {
	host := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_GCS_HOST")
	s.env = append(s.env, "STORAGE_EMULATOR_HOST="+host)
	t.Setenv("STORAGE_EMULATOR_HOST", host)
	ctx := context.Background()
	client, err := storage.NewClient(ctx, option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	bucketOf := func(u string) *storage.BucketHandle { return client.Bucket(strings.TrimPrefix(u, "gs://")) }
	return backend{
		name: "gs",
		bucket: func(t *testing.T) string {
			name := randomName("sky-")
			if err := client.Bucket(name).Create(ctx, "skyplane-test", nil); err != nil {
				t.Fatalf("create bucket: %v", err)
			}
			return "gs://" + name
		},
		put: func(t *testing.T, b, k string, data []byte) {
			w := bucketOf(b).Object(k).NewWriter(ctx)
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
		},
		get: func(t *testing.T, b, k string) ([]byte, bool) {
			r, err := bucketOf(b).Object(k).NewReader(ctx)
			if err != nil {
				return nil, false
			}
			defer r.Close()
			data, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			return data, true
		},
		list: func(t *testing.T, b, prefix string) []string {
			var keys []string
			it := bucketOf(b).Objects(ctx, &storage.Query{Prefix: prefix})
			for {
				a, err := it.Next()
				if errors.Is(err, iterator.Done) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, a.Name)
			}
			return keys
		},
	}
}

func azureBackend(t *testing.T, s *sandbox) backend {
	conn := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_AZURE_CONNECTION_STRING")
	s.env = append(s.env, "AZURE_STORAGE_CONNECTION_STRING="+conn)
	client, err := azblob.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	container := func(u string) string {
		return strings.SplitN(strings.TrimPrefix(u, "azure://devstoreaccount1/"), "/", 2)[0]
	}
	return backend{
		name: "azure",
		bucket: func(t *testing.T) string {
			name := randomName("sky-")
			if _, err := client.CreateContainer(ctx, name, nil); err != nil {
				t.Fatalf("create container: %v", err)
			}
			return "azure://devstoreaccount1/" + name
		},
		put: func(t *testing.T, b, k string, data []byte) {
			if _, err := client.UploadBuffer(ctx, container(b), k, data, nil); err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
		},
		get: func(t *testing.T, b, k string) ([]byte, bool) {
			resp, err := client.DownloadStream(ctx, container(b), k, nil)
			if err != nil {
				return nil, false
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return data, true
		},
		list: func(t *testing.T, b, prefix string) []string {
			var keys []string
			p := client.NewListBlobsFlatPager(container(b), &azblob.ListBlobsFlatOptions{Prefix: &prefix})
			for p.More() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range page.Segment.BlobItems {
					keys = append(keys, *it.Name)
				}
			}
			return keys
		},
	}
}

// backends lists every store kind for the sandbox.
func backends(t *testing.T, s *sandbox) []backend {
	return []backend{localBackend(s), s3Backend(t, s), gcsBackend(t, s), azureBackend(t, s)}
}
