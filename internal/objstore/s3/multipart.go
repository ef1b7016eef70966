package s3

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// InitiateMultipart sends CreateMultipartUpload.
func (s *Store) InitiateMultipart(ctx context.Context, key string) (string, error) {
	out, err := s.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket:       &s.bucket,
		Key:          &key,
		RequestPayer: s.payer(),
	})
	if err != nil {
		return "", s.wrap(ctx, "initiate multipart upload", key, err, objstore.ErrBucketNotFound)
	}
	if aws.ToString(out.UploadId) == "" {
		return "", fmt.Errorf("s3: initiate multipart upload s3://%s/%s: the server returned no upload id", s.bucket, key)
	}
	return *out.UploadId, nil
}

// UploadPart sends UploadPart with Content-MD5 (when p.MD5 is set) and
// returns the part's ETag as the server gave it.
func (s *Store) UploadPart(ctx context.Context, key, uploadID string, p objstore.Part, r io.Reader) (string, error) {
	op := fmt.Sprintf("upload part %d of", p.Number)
	if p.Number < 1 || p.Number > MaxParts {
		return "", fmt.Errorf("s3: %s s3://%s/%s: part number must be 1 to %d", op, s.bucket, key, MaxParts)
	}
	if p.Size < 0 {
		return "", fmt.Errorf("s3: %s s3://%s/%s: negative size %d", op, s.bucket, key, p.Size)
	}
	if p.MD5 != nil && len(p.MD5) != md5.Size {
		return "", fmt.Errorf("s3: %s s3://%s/%s: md5 of %d bytes, want %d", op, s.bucket, key, len(p.MD5), md5.Size)
	}
	b, err := s.payload(r, p.Size)
	if err != nil {
		return "", fmt.Errorf("s3: %s s3://%s/%s: %w", op, s.bucket, key, err)
	}
	out, err := s.client.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket:        &s.bucket,
		Key:           &key,
		UploadId:      &uploadID,
		PartNumber:    aws.Int32(int32(p.Number)),
		Body:          b,
		ContentLength: aws.Int64(p.Size),
		ContentMD5:    contentMD5(p.MD5),
		RequestPayer:  s.payer(),
	}, s.unsignedPayload(p.MD5))
	if err != nil {
		return "", s.wrap(ctx, op, key, err, objstore.ErrUploadNotFound)
	}
	if aws.ToString(out.ETag) == "" {
		return "", fmt.Errorf("s3: %s s3://%s/%s: the server returned no ETag", op, s.bucket, key)
	}
	return *out.ETag, nil
}

// CompleteMultipart sends CompleteMultipartUpload with the parts sorted by
// number.
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []objstore.Part) error {
	if len(parts) == 0 {
		return fmt.Errorf("s3: complete multipart upload s3://%s/%s: no parts (S3 needs at least one)", s.bucket, key)
	}
	done := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		if i > 0 && parts[i-1].Number == p.Number {
			return fmt.Errorf("s3: complete multipart upload s3://%s/%s: part %d given twice", s.bucket, key, p.Number)
		}
		if p.ETag == "" {
			return fmt.Errorf("s3: complete multipart upload s3://%s/%s: part %d has no ETag (from UploadPart)", s.bucket, key, p.Number)
		}
		done[i] = types.CompletedPart{ETag: aws.String(p.ETag), PartNumber: aws.Int32(int32(p.Number))}
	}
	_, err := s.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             &key,
		UploadId:        &uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
		RequestPayer:    s.payer(),
	})
	if err != nil {
		return s.wrap(ctx, "complete multipart upload", key, err, objstore.ErrUploadNotFound)
	}
	return nil
}

// AbortMultipart sends AbortMultipartUpload; an upload already gone is not
// an error.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{
		Bucket:       &s.bucket,
		Key:          &key,
		UploadId:     &uploadID,
		RequestPayer: s.payer(),
	})
	if err != nil {
		werr := s.wrap(ctx, "abort multipart upload", key, err, objstore.ErrUploadNotFound)
		if errors.Is(werr, objstore.ErrUploadNotFound) {
			return nil
		}
		return werr
	}
	return nil
}

// ListMultipartUploads lists the open uploads under prefix, all pages.
func (s *Store) ListMultipartUploads(ctx context.Context, prefix string) ([]objstore.Upload, error) {
	pages := awss3.NewListMultipartUploadsPaginator(s.client, &awss3.ListMultipartUploadsInput{
		Bucket:       &s.bucket,
		Prefix:       aws.String(prefix),
		RequestPayer: s.payer(),
	})
	var ups []objstore.Upload
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, s.wrap(ctx, "list multipart uploads", prefix, err, objstore.ErrBucketNotFound)
		}
		for _, u := range page.Uploads {
			ups = append(ups, objstore.Upload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId)})
		}
	}
	return ups, nil
}
