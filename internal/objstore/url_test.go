package objstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	wdKey := strings.TrimPrefix(filepath.ToSlash(wd), "/")
	parent := strings.TrimPrefix(filepath.ToSlash(filepath.Dir(wd)), "/")

	tests := []struct {
		in      string
		want    Location
		wantErr string // substring of the error; "" = success
	}{
		// S3
		{in: "s3://bucket/key", want: Location{Scheme: "s3", Bucket: "bucket", Key: "key"}},
		{in: "s3://bucket", want: Location{Scheme: "s3", Bucket: "bucket"}},
		{in: "s3://bucket/", want: Location{Scheme: "s3", Bucket: "bucket"}},
		{in: "s3://bucket/dir/", want: Location{Scheme: "s3", Bucket: "bucket", Key: "dir/"}},
		{in: "s3://my.bucket-1/a/b/c.txt", want: Location{Scheme: "s3", Bucket: "my.bucket-1", Key: "a/b/c.txt"}},
		{in: "S3://bucket/Key With Space+plus", want: Location{Scheme: "s3", Bucket: "bucket", Key: "Key With Space+plus"}},
		{in: "s3://bucket//double", want: Location{Scheme: "s3", Bucket: "bucket", Key: "/double"}},
		{in: "s3://bucket/ünï/日本", want: Location{Scheme: "s3", Bucket: "bucket", Key: "ünï/日本"}},
		{in: "s3://", wantErr: "missing bucket"},
		{in: "s3:///key", wantErr: "missing bucket"},
		{in: "s3://ab/key", wantErr: "3 to 63"},
		{in: "s3://" + strings.Repeat("a", 64), wantErr: "3 to 63"},
		{in: "s3://Bucket/key", wantErr: "lowercase"},
		{in: "s3://bucket_x/key", wantErr: "lowercase"},
		{in: "s3://-bucket/key", wantErr: "start and end"},
		{in: "s3://bucket-/key", wantErr: "start and end"},
		{in: "s3://a..b/key", wantErr: "adjacent periods"},
		// GCS
		{in: "gs://bucket/key", want: Location{Scheme: "gs", Bucket: "bucket", Key: "key"}},
		{in: "gs://my_bucket/a/", want: Location{Scheme: "gs", Bucket: "my_bucket", Key: "a/"}},
		{in: "gs://bucket", want: Location{Scheme: "gs", Bucket: "bucket"}},
		{in: "gs://", wantErr: "missing bucket"},
		{in: "gs://_bucket/x", wantErr: "start and end"},
		{in: "gs://BUCKET/x", wantErr: "lowercase"},
		{in: "gs://" + strings.Repeat("a", 64), wantErr: "3 to 63"},
		{in: "gs://" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63), want: Location{Scheme: "gs", Bucket: strings.Repeat("a", 63) + "." + strings.Repeat("b", 63)}},
		// Azure
		{in: "azure://account/container/key", want: Location{Scheme: "azure", Account: "account", Bucket: "container", Key: "key"}},
		{in: "azure://account/container", want: Location{Scheme: "azure", Account: "account", Bucket: "container"}},
		{in: "azure://account/container/dir/", want: Location{Scheme: "azure", Account: "account", Bucket: "container", Key: "dir/"}},
		{in: "azure://account", wantErr: "missing container"},
		{in: "azure://account/", wantErr: "missing container"},
		{in: "azure://", wantErr: "missing storage account"},
		{in: "azure:///container/key", wantErr: "missing storage account"},
		{in: "azure://Account/container/key", wantErr: "lowercase letters and digits"},
		{in: "azure://account/Container/key", wantErr: "invalid Azure container"},
		{in: "https://acct1.blob.core.windows.net/container/a/b", want: Location{Scheme: "azure", Account: "acct1", Bucket: "container", Key: "a/b"}},
		{in: "https://ACCT1.Blob.Core.Windows.Net/container/", want: Location{Scheme: "azure", Account: "acct1", Bucket: "container"}},
		{in: "https://acct1.blob.core.windows.net/container/with%20space", want: Location{Scheme: "azure", Account: "acct1", Bucket: "container", Key: "with space"}},
		{in: "https://acct1.blob.core.windows.net", wantErr: "missing container"},
		{in: "https://acct1.blob.core.windows.net/c0n/k?sv=2020&sig=x", wantErr: "SAS"},
		{in: "https://example.com/container/key", wantErr: "unsupported https URL"},
		{in: "https://blob.core.windows.net/container/key", wantErr: "unsupported https URL"},
		{in: "http://acct1.blob.core.windows.net/container/key", wantErr: "unsupported scheme"},
		// HDFS
		{in: "hdfs://namenode:8020/path/to/file", want: Location{Scheme: "hdfs", Bucket: "namenode:8020", Key: "path/to/file"}},
		{in: "hdfs://namenode:8020/dir/", want: Location{Scheme: "hdfs", Bucket: "namenode:8020", Key: "dir/"}},
		{in: "hdfs://namenode", want: Location{Scheme: "hdfs", Bucket: "namenode"}},
		{in: "hdfs:///path", wantErr: "missing namenode"},
		{in: "hdfs://nn:port/path", wantErr: "invalid namenode"},
		// Local
		{in: "/path", want: Location{Scheme: "file", Key: "path"}},
		{in: "/path/to/dir/", want: Location{Scheme: "file", Key: "path/to/dir/"}},
		{in: "/", want: Location{Scheme: "file", Key: ""}},
		{in: "//", want: Location{Scheme: "file", Key: ""}},
		{in: "/a//b/../c/./d", want: Location{Scheme: "file", Key: "a/c/d"}},
		{in: "./rel", want: Location{Scheme: "file", Key: wdKey + "/rel"}},
		{in: "rel/path", want: Location{Scheme: "file", Key: wdKey + "/rel/path"}},
		{in: "rel/dir/", want: Location{Scheme: "file", Key: wdKey + "/rel/dir/"}},
		{in: ".", want: Location{Scheme: "file", Key: wdKey}},
		{in: "./", want: Location{Scheme: "file", Key: wdKey + "/"}},
		{in: "..", want: Location{Scheme: "file", Key: parent}},
		{in: "file:///path/x", want: Location{Scheme: "file", Key: "path/x"}},
		{in: "file:///path/x/", want: Location{Scheme: "file", Key: "path/x/"}},
		{in: "file://localhost/etc/hosts", want: Location{Scheme: "file", Key: "etc/hosts"}},
		{in: "FILE:///", want: Location{Scheme: "file", Key: ""}},
		{in: "file://relative/x", wantErr: "absolute path"},
		{in: "dir/x://y", want: Location{Scheme: "file", Key: wdKey + "/dir/x:/y"}},
		{in: "a b://c", want: Location{Scheme: "file", Key: wdKey + "/a b:/c"}},
		{in: "/nul\x00byte", wantErr: "NUL"},
		// Errors
		{in: "", wantErr: "empty location"},
		{in: "ftp://x", wantErr: "unsupported scheme \"ftp\""},
		{in: "s4://bucket/key", wantErr: "unsupported scheme"},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.in)
		if tc.wantErr != "" {
			if err == nil {
				t.Errorf("ParseURL(%q) = %+v, want error containing %q", tc.in, got, tc.wantErr)
				continue
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseURL(%q) error %q, want it to contain %q", tc.in, err, tc.wantErr)
			}
			if tc.in != "" && !strings.Contains(err.Error(), tc.in) && !strings.Contains(err.Error(), strings.ReplaceAll(tc.in, "\x00", `\x00`)) {
				t.Errorf("ParseURL(%q) error %q does not name the input", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): unexpected error %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseURLErrorsShowValidForm(t *testing.T) {
	for _, in := range []string{"", "s3://", "s3://A/x", "gs://", "azure://acct", "ftp://x", "https://example.com/x", "hdfs:///x", "file://x"} {
		_, err := ParseURL(in)
		if err == nil {
			t.Fatalf("ParseURL(%q): want error", in)
		}
		if !strings.Contains(err.Error(), "want") {
			t.Errorf("ParseURL(%q) error %q does not show a valid form", in, err)
		}
	}
}

func TestLocationRoundTrip(t *testing.T) {
	for _, in := range []string{
		"s3://bucket/key", "s3://bucket/", "gs://bucket/a/b/", "azure://account/container/k",
		"hdfs://nn:8020/p/q", "/abs/path", "/abs/dir/", "/",
	} {
		loc, err := ParseURL(in)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", in, err)
		}
		again, err := ParseURL(loc.String())
		if err != nil {
			t.Fatalf("ParseURL(%q) (from %q): %v", loc.String(), in, err)
		}
		if again != loc {
			t.Errorf("round trip of %q: %+v -> %q -> %+v", in, loc, loc.String(), again)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"s3://bucket/key", "s3://bucket", "gs://b_b/x/", "azure://acct/cont/k",
		"https://acct.blob.core.windows.net/c0n/k%20x", "hdfs://nn:1/p", "/p/", "./x", "file:///",
		"ftp://x", "", "s3://", "://", "a://b", "https://[::1]:80/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseURL(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseURL(%q): empty error message", s)
			}
			return
		}
		switch loc.Scheme {
		case SchemeS3, SchemeGCS:
			again, err := ParseURL(loc.String())
			if err != nil {
				t.Fatalf("ParseURL(%q) = %+v, but ParseURL(%q) failed: %v", s, loc, loc.String(), err)
			}
			if again != loc {
				t.Fatalf("round trip of %q: %+v -> %q -> %+v", s, loc, loc.String(), again)
			}
		case SchemeAzure, SchemeHDFS, SchemeLocal:
		default:
			t.Fatalf("ParseURL(%q): unexpected scheme %q", s, loc.Scheme)
		}
		if loc.Scheme == SchemeLocal && strings.HasPrefix(loc.Key, "/") {
			t.Fatalf("ParseURL(%q): local key %q starts with /", s, loc.Key)
		}
	})
}
