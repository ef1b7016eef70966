package objstore

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Scheme names.
const (
	SchemeLocal = "file"
	SchemeS3    = "s3"
	SchemeGCS   = "gs"
	SchemeAzure = "azure"
	SchemeHDFS  = "hdfs"
)

// Location is a parsed object URL.
//
//	s3://bucket/key                       Scheme s3,    Bucket "bucket", Key "key"
//	gs://bucket/key                       Scheme gs,    Bucket "bucket", Key "key"
//	azure://account/container/key         Scheme azure, Account "account", Bucket "container", Key "key"
//	https://account.blob.core.windows.net/container/key  (same as above)
//	hdfs://namenode:port/path             Scheme hdfs,  Bucket "namenode:port", Key "path"
//	/path, ./path, file:///path, path     Scheme file,  Bucket "",  Key = absolute path without its leading "/"
//
// A trailing "/" in the key is kept: key mapping depends on it.
type Location struct {
	Scheme  string
	Account string // Azure storage account
	Bucket  string
	Key     string
}

// String renders the location as a canonical URL.
func (l Location) String() string {
	switch l.Scheme {
	case SchemeLocal:
		return "/" + l.Key
	case SchemeAzure:
		return "azure://" + l.Account + "/" + l.Bucket + "/" + l.Key
	default:
		return l.Scheme + "://" + l.Bucket + "/" + l.Key
	}
}

// BucketURL is the location with an empty key.
func (l Location) BucketURL() Location {
	l.Key = ""
	return l
}

func schemeName(s string) string {
	switch s {
	case SchemeLocal:
		return "local disk"
	case SchemeS3:
		return "S3"
	case SchemeGCS:
		return "Google Cloud Storage"
	case SchemeAzure:
		return "Azure Blob"
	case SchemeHDFS:
		return "HDFS"
	}
	return s
}

// ParseURL parses an object URL or a local path into a Location.
//
// Remote keys are taken verbatim after the bucket (a trailing "/" is kept;
// "s3://bucket" and "s3://bucket/" both give an empty key). Local paths are
// made absolute against the working directory and cleaned; the key is that
// path without its leading "/", with a trailing "/" kept when the input had
// one ("/" itself gives the empty key). Scheme names are case-insensitive.
// ParseURL never panics; every error names the input and a valid form.
func ParseURL(s string) (Location, error) {
	if s == "" {
		return Location{}, fmt.Errorf("empty location: want a URL such as s3://bucket/key, gs://bucket/key, azure://account/container/key, or a local path such as /data or ./data")
	}
	i := strings.Index(s, "://")
	if i < 0 || !isSchemeName(s[:i]) {
		return parseLocal(s, s)
	}
	scheme, rest := strings.ToLower(s[:i]), s[i+3:]
	switch scheme {
	case SchemeS3:
		return parseBucketURL(s, SchemeS3, rest, validS3Bucket)
	case SchemeGCS:
		return parseBucketURL(s, SchemeGCS, rest, validGCSBucket)
	case SchemeAzure:
		return parseAzure(s, rest)
	case "https":
		return parseAzureHTTPS(s)
	case SchemeHDFS:
		return parseHDFS(s, rest)
	case SchemeLocal:
		return parseFileURL(s, rest)
	case "http":
		return Location{}, fmt.Errorf("%q: unsupported scheme \"http\": Azure Blob URLs must use https://ACCOUNT.blob.core.windows.net/container/key (or azure://account/container/key)", s)
	}
	return Location{}, fmt.Errorf("%q: unsupported scheme %q: want s3://bucket/key, gs://bucket/key, azure://account/container/key, https://ACCOUNT.blob.core.windows.net/container/key, hdfs://namenode:port/path, file:///path or a local path", s, scheme)
}

// isSchemeName reports whether s is an RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func isSchemeName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func parseBucketURL(input, scheme, rest string, valid func(string) string) (Location, error) {
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Location{}, fmt.Errorf("%q: missing bucket name: want %s://bucket/key", input, scheme)
	}
	if why := valid(bucket); why != "" {
		return Location{}, fmt.Errorf("%q: invalid %s bucket name %q: %s (want %s://bucket/key)", input, schemeName(scheme), bucket, why, scheme)
	}
	return Location{Scheme: scheme, Bucket: bucket, Key: key}, nil
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// validS3Bucket returns "" for a valid S3 bucket name, else the reason.
func validS3Bucket(b string) string {
	if len(b) < 3 || len(b) > 63 {
		return "must be 3 to 63 characters long"
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !isLowerAlnum(c) && c != '.' && c != '-' {
			return "may contain only lowercase letters, digits, '.' and '-'"
		}
	}
	if !isLowerAlnum(b[0]) || !isLowerAlnum(b[len(b)-1]) {
		return "must start and end with a lowercase letter or digit"
	}
	if strings.Contains(b, "..") {
		return "must not contain two adjacent periods"
	}
	return ""
}

// validGCSBucket returns "" for a valid GCS bucket name, else the reason.
func validGCSBucket(b string) string {
	if len(b) < 3 || len(b) > 222 {
		return "must be 3 to 63 characters long (up to 222 when it contains dots)"
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !isLowerAlnum(c) && c != '.' && c != '-' && c != '_' {
			return "may contain only lowercase letters, digits, '.', '-' and '_'"
		}
	}
	if !isLowerAlnum(b[0]) || !isLowerAlnum(b[len(b)-1]) {
		return "must start and end with a lowercase letter or digit"
	}
	if !strings.Contains(b, ".") && len(b) > 63 {
		return "must be 3 to 63 characters long (up to 222 when it contains dots)"
	}
	for part := range strings.SplitSeq(b, ".") {
		if part == "" {
			return "must not contain two adjacent periods"
		}
		if len(part) > 63 {
			return "each dot-separated component must be at most 63 characters"
		}
	}
	return ""
}

// validAzureAccount returns "" for a valid storage account name, else the reason.
func validAzureAccount(a string) string {
	if len(a) < 3 || len(a) > 24 {
		return "must be 3 to 24 characters long"
	}
	for i := 0; i < len(a); i++ {
		if !isLowerAlnum(a[i]) {
			return "may contain only lowercase letters and digits"
		}
	}
	return ""
}

// validAzureContainer returns "" for a valid container name, else the reason.
func validAzureContainer(c string) string {
	if c == "$root" || c == "$web" || c == "$logs" {
		return ""
	}
	if len(c) < 3 || len(c) > 63 {
		return "must be 3 to 63 characters long"
	}
	for i := 0; i < len(c); i++ {
		if ch := c[i]; !isLowerAlnum(ch) && ch != '-' {
			return "may contain only lowercase letters, digits and '-'"
		}
	}
	if !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
		return "must start and end with a lowercase letter or digit"
	}
	if strings.Contains(c, "--") {
		return "must not contain two adjacent dashes"
	}
	return ""
}

func azureLocation(input, account, container, key string) (Location, error) {
	const form = "want azure://account/container/key or https://ACCOUNT.blob.core.windows.net/container/key"
	if account == "" {
		return Location{}, fmt.Errorf("%q: missing storage account: %s", input, form)
	}
	if why := validAzureAccount(account); why != "" {
		return Location{}, fmt.Errorf("%q: invalid Azure storage account name %q: %s (%s)", input, account, why, form)
	}
	if container == "" {
		return Location{}, fmt.Errorf("%q: missing container: %s", input, form)
	}
	if why := validAzureContainer(container); why != "" {
		return Location{}, fmt.Errorf("%q: invalid Azure container name %q: %s (%s)", input, container, why, form)
	}
	return Location{Scheme: SchemeAzure, Account: account, Bucket: container, Key: key}, nil
}

func parseAzure(input, rest string) (Location, error) {
	account, rest, _ := strings.Cut(rest, "/")
	container, key, _ := strings.Cut(rest, "/")
	return azureLocation(input, account, container, key)
}

const azureBlobHostSuffix = ".blob.core.windows.net"

// parseAzureHTTPS accepts https://ACCOUNT.blob.core.windows.net/container/key.
// The path is percent-decoded; query strings (SAS tokens) are refused.
func parseAzureHTTPS(input string) (Location, error) {
	u, err := url.Parse(input)
	if err != nil {
		return Location{}, fmt.Errorf("%q: not a valid https URL (%v): want https://ACCOUNT.blob.core.windows.net/container/key", input, err)
	}
	host := strings.ToLower(u.Hostname())
	account, ok := strings.CutSuffix(host, azureBlobHostSuffix)
	if !ok || strings.Contains(account, ".") {
		return Location{}, fmt.Errorf("%q: unsupported https URL: only Azure Blob endpoints are supported, want https://ACCOUNT.blob.core.windows.net/container/key", input)
	}
	if u.User != nil {
		return Location{}, fmt.Errorf("%q: credentials in the URL are not supported: want https://ACCOUNT.blob.core.windows.net/container/key", input)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return Location{}, fmt.Errorf("%q: query strings (SAS tokens) and fragments are not supported in the URL; configure credentials instead and use https://ACCOUNT.blob.core.windows.net/container/key", input)
	}
	container, key, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	return azureLocation(input, account, container, key)
}

func parseHDFS(input, rest string) (Location, error) {
	host, key, _ := strings.Cut(rest, "/")
	if host == "" || strings.HasPrefix(host, ":") {
		return Location{}, fmt.Errorf("%q: missing namenode: want hdfs://namenode:port/path", input)
	}
	if h, port, ok := strings.Cut(host, ":"); ok {
		if h == "" || port == "" || strings.Trim(port, "0123456789") != "" {
			return Location{}, fmt.Errorf("%q: invalid namenode address %q: want hdfs://namenode:port/path", input, host)
		}
	}
	return Location{Scheme: SchemeHDFS, Bucket: host, Key: strings.TrimLeft(key, "/")}, nil
}

func parseFileURL(input, rest string) (Location, error) {
	// file:///path (empty host) or file://localhost/path.
	if after, ok := strings.CutPrefix(rest, "localhost/"); ok {
		rest = "/" + after
	}
	if !strings.HasPrefix(rest, "/") {
		return Location{}, fmt.Errorf("%q: a file URL needs an absolute path: want file:///path (or a plain path such as /path or ./path)", input)
	}
	return parseLocal(input, rest)
}

func parseLocal(input, p string) (Location, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return Location{}, fmt.Errorf("%q: local path contains a NUL byte: want a path such as /data or ./data", input)
	}
	trailing := strings.HasSuffix(p, "/")
	abs := p
	if !filepath.IsAbs(abs) {
		wd, err := os.Getwd()
		if err != nil {
			return Location{}, fmt.Errorf("%q: cannot resolve relative path: working directory unknown: %w", input, err)
		}
		abs = filepath.Join(wd, abs)
	}
	abs = filepath.ToSlash(filepath.Clean(abs))
	key := strings.TrimLeft(abs, "/")
	if trailing && key != "" {
		key += "/"
	}
	return Location{Scheme: SchemeLocal, Key: key}, nil
}
