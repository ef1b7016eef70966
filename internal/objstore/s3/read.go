package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Read sends GetObject for bytes [offset, offset+length) (length < 0: to the
// end). Length 0 returns an empty body without a request (S3 has no empty
// range). An offset exactly at the end of the object gives an empty body, one
// past it an error, as on local disk. Errors while reading the body are
// returned retryable.
func (s *Store) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return s.read(ctx, key, "", offset, length)
}

// ReadVersion implements objstore.VersionReader: Read with If-Match on the
// ETag (version); a 412 Precondition Failed becomes objstore.ErrChanged.
func (s *Store) ReadVersion(ctx context.Context, key, version string, offset, length int64) (io.ReadCloser, error) {
	if version == "" {
		return nil, fmt.Errorf("s3: read s3://%s/%s: empty version", s.bucket, key)
	}
	return s.read(ctx, key, `"`+version+`"`, offset, length)
}

func (s *Store) read(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("s3: read s3://%s/%s: negative offset %d", s.bucket, key, offset)
	}
	if length == 0 && etag != "" {
		// Nothing to read, but the version must still be the one pinned.
		_, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &s.bucket, Key: &key, IfMatch: &etag, RequestPayer: s.payer()})
		if err != nil {
			return nil, s.wrap(ctx, "read", key, err, objstore.ErrNotFound)
		}
	}
	if length == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	in := &awss3.GetObjectInput{
		Bucket:       &s.bucket,
		Key:          &key,
		RequestPayer: s.payer(),
	}
	if etag != "" {
		in.IfMatch = &etag
	}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if code, _ := apiCode(err); code == "InvalidRange" || httpStatus(err) == 416 {
			// Past the end: empty at exactly the end (like a file), an error beyond.
			if o, herr := s.Head(ctx, key); herr == nil {
				if offset == o.Size {
					return io.NopCloser(bytes.NewReader(nil)), nil
				}
				return nil, fmt.Errorf("s3: read s3://%s/%s: offset %d out of range (size %d): %w", s.bucket, key, offset, o.Size, err)
			}
		}
		return nil, s.wrap(ctx, "read", key, err, objstore.ErrNotFound)
	}
	return &body{rc: out.Body, s: s, key: key}, nil
}

// body marks errors while streaming a GetObject body (resets, timeouts) as
// retryable and names the object.
type body struct {
	rc  io.ReadCloser
	s   *Store
	key string
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == nil, err == io.EOF:
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("s3: read s3://%s/%s: body: %w", b.s.bucket, b.key, err)
	default:
		err = objstore.Retryable(fmt.Errorf("s3: read s3://%s/%s: body: %w", b.s.bucket, b.key, err))
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }
