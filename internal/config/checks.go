package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// Values of checksum_algorithm.
const (
	ChecksumAuto = "auto"
	ChecksumMD5  = "md5"
)

func checkChecksumAlgorithm(v string) error {
	if v != ChecksumAuto && v != ChecksumMD5 {
		return fmt.Errorf("is not %s or %s", ChecksumAuto, ChecksumMD5)
	}
	return nil
}

func checkName(v string) error {
	if v == "" {
		return errors.New("is empty")
	}
	if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		return errors.New("contains a space")
	}
	return nil
}

var serviceAccountRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

func checkServiceAccount(v string) error {
	if v == "" {
		return errors.New("is empty")
	}
	if len(v) < 6 || len(v) > 30 || !serviceAccountRE.MatchString(v) {
		return errors.New("is not a valid GCP service account name")
	}
	return nil
}

func checkOptionalURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("is not an http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("has no host")
	}
	return nil
}

func checkBucketEndpoints(v string) error {
	_, err := parseBucketEndpoints(v)
	return err
}

// parseBucketEndpoints reads "bucket=URL,bucket=URL"; a bucket named twice
// is an error rather than a silent last-one-wins.
func parseBucketEndpoints(v string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(v, ",") {
		bucket, u, ok := strings.Cut(strings.TrimSpace(pair), "=")
		bucket, u = strings.TrimSpace(bucket), strings.TrimSpace(u)
		if !ok || bucket == "" || u == "" {
			return nil, fmt.Errorf("entry %q is not bucket=URL", pair)
		}
		if strings.ContainsAny(bucket, "/ ") {
			return nil, fmt.Errorf("entry %q: %q is not a bucket name", pair, bucket)
		}
		if err := checkOptionalURL(u); err != nil {
			return nil, fmt.Errorf("entry %q: the URL %w", pair, err)
		}
		if _, dup := out[bucket]; dup {
			return nil, fmt.Errorf("bucket %q is named twice", bucket)
		}
		out[bucket] = u
	}
	return out, nil
}

// S3EndpointFor is the endpoint of an S3 bucket: its s3_bucket_endpoints
// entry, else s3_endpoint ("" = AWS). Validate has checked the syntax.
func (c Config) S3EndpointFor(bucket string) string {
	if m, err := parseBucketEndpoints(c.S3BucketEndpoints); err == nil {
		if u, ok := m[bucket]; ok {
			return u
		}
	}
	return c.S3Endpoint
}

// checkSolver knows the planner's solvers by name (internal/planner.Solvers).
func checkSolver(v string) error {
	switch v {
	case "direct", "ron", "ilp":
		return nil
	}
	return errors.New("is not a solver")
}
