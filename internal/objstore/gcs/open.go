package gcs

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/option"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Open returns the store of bucket loc.Bucket (loc.Key is ignored).
func Open(ctx context.Context, loc objstore.Location, opts objstore.Options) (objstore.Store, error) {
	return open(ctx, loc.Bucket, opts)
}

// open is Open with extra client options (tests pass an instrumented HTTP client).
func open(ctx context.Context, bucket string, opts objstore.Options, extra ...option.ClientOption) (*Store, error) {
	if bucket == "" {
		return nil, fmt.Errorf("gcs: missing bucket name: want gs://bucket/key")
	}
	var copts []option.ClientOption
	creds := "Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login` or the GCE metadata server)"
	endpoint := opts.Endpoint
	if host := opts.GCSEmulatorHost; host != "" {
		creds = "emulator (no authentication) at " + host
		copts = append(copts, option.WithoutAuthentication())
		if endpoint == "" {
			endpoint = "http://" + host
		}
	}
	if endpoint != "" {
		copts = append(copts, option.WithEndpoint(jsonEndpoint(endpoint)))
	}
	copts = append(copts, extra...)
	var project string
	if opts.RequesterPays {
		project = opts.GCSProject
		if project == "" {
			return nil, fmt.Errorf("gcs: gs://%s: requester pays is enabled but %s is not set: set it to the project to bill for access to the bucket", bucket, ProjectEnv)
		}
	}
	client, err := storage.NewClient(ctx, copts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: gs://%s: cannot create a client with %s: check the credentials (or set %s to use an emulator): %w: %w", bucket, creds, EmulatorHostEnv, objstore.ErrAccessDenied, err)
	}
	client.SetRetry(
		storage.WithPolicy(storage.RetryAlways),
		storage.WithMaxAttempts(6),
		storage.WithBackoff(gax.Backoff{Initial: 250 * time.Millisecond, Max: 8 * time.Second, Multiplier: 2}),
		// The library asks only while attempts remain, so each yes is one retry.
		storage.WithErrorFunc(func(err error) bool {
			retry := storage.ShouldRetry(err)
			if retry {
				opts.Retries.Add()
			}
			return retry
		}),
	)
	b := client.Bucket(bucket)
	if project != "" {
		b = b.UserProject(project)
		creds += ", billing project " + project
	}
	return &Store{client: client, bucket: b, name: bucket, creds: creds, pageSize: defaultPageSize}, nil
}

// jsonEndpoint makes a bare scheme://host[:port] endpoint a JSON API base URL.
func jsonEndpoint(ep string) string {
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return ep
	}
	u.Path = "/storage/v1/"
	return u.String()
}
