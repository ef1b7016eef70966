package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// originalDefaults are the original Skyplane's defaults, written here by hand (not from the code), plus
// the keys of ours, whose defaults are empty; the two multipart sizes are
// ours on purpose (docs/config.md says why).
var originalDefaults = map[string]string{
	"autoconfirm":                "false",
	"usage_stats":                "true",
	"bbr":                        "true",
	"compress":                   "true",
	"encrypt_e2e":                "true",
	"encrypt_socket_tls":         "false",
	"verify_checksums":           "true",
	"num_connections":            "32",
	"max_instances":              "1",
	"autoshutdown_minutes":       "15",
	"multipart_enabled":          "true",
	"multipart_min_threshold_mb": "32", // ours; the original's 128 (see Default)
	"multipart_chunk_size_mb":    "16", // ours; the original's 64
	"multipart_max_chunks":       "9990",
	"requester_pays":             "false",
	"local_fsync":                "true",
	"native_cmd_enabled":         "true",
	"native_cmd_threshold_gb":    "2",
	"aws_instance_class":         "m5.8xlarge",
	"aws_use_spot_instances":     "false",
	"aws_default_region":         "us-east-1",
	"azure_instance_class":       "Standard_D32_v5",
	"azure_use_spot_instances":   "false",
	"azure_default_region":       "eastus",
	"gcp_instance_class":         "n2-standard-32",
	"gcp_use_premium_network":    "true",
	"gcp_service_account_name":   "skyplane-manual",
	"gcp_use_spot_instances":     "false",
	"gcp_default_region":         "us-central1-a",
	"s3_endpoint":                "",
	"s3_bucket_endpoints":        "",
	"gateway_binary":             "",
	"hosts_file":                 "",
	"gateways_per_host":          "4",
	"usage_stats_endpoint":       "",
	"in_process":                 "true",
	"checksum_algorithm":         "auto",
	"solver":                     "direct",
	"planner_data_file":          "",
}

var originalTypes = map[string]string{
	"autoconfirm": "bool", "usage_stats": "bool", "bbr": "bool", "compress": "bool",
	"encrypt_e2e": "bool", "encrypt_socket_tls": "bool", "verify_checksums": "bool",
	"num_connections": "int", "max_instances": "int", "autoshutdown_minutes": "int",
	"multipart_enabled": "bool", "multipart_min_threshold_mb": "int", "multipart_chunk_size_mb": "int",
	"multipart_max_chunks": "int", "requester_pays": "bool", "local_fsync": "bool", "native_cmd_enabled": "bool",
	"native_cmd_threshold_gb": "int", "aws_instance_class": "string", "aws_use_spot_instances": "bool",
	"aws_default_region": "string", "azure_instance_class": "string", "azure_use_spot_instances": "bool",
	"azure_default_region": "string", "gcp_instance_class": "string", "gcp_use_premium_network": "bool",
	"gcp_service_account_name": "string", "gcp_use_spot_instances": "bool", "gcp_default_region": "string",
	"s3_endpoint": "string", "s3_bucket_endpoints": "string", "gateway_binary": "string", "usage_stats_endpoint": "string",
	"hosts_file": "string", "gateways_per_host": "int",
	"in_process": "bool", "checksum_algorithm": "string",
	"solver": "string", "planner_data_file": "string",
}

func TestDefaultsMatchBrief(t *testing.T) {
	d := Default()
	for key, want := range originalDefaults {
		t.Run(key, func(t *testing.T) {
			got, err := d.Get(key)
			if err != nil {
				t.Fatalf("Get(%q): %v", key, err)
			}
			if got != want {
				t.Errorf("default %s = %q, want %q", key, got, want)
			}
		})
	}
	// Spot-check the struct fields directly too, so Get cannot hide a
	// mis-wired accessor.
	want := Config{
		UsageStats: true, BBR: true, Compress: true, EncryptE2E: true, VerifyChecksums: true,
		NumConnections: 32, MaxInstances: 1, AutoshutdownMinutes: 15,
		MultipartEnabled: true, MultipartMinThresholdMB: 32, MultipartChunkSizeMB: 16, MultipartMaxChunks: 9990,
		NativeCmdEnabled: true, NativeCmdThresholdGB: 2, LocalFsync: true,
		AWSInstanceClass: "m5.8xlarge", AWSDefaultRegion: "us-east-1",
		AzureInstanceClass: "Standard_D32_v5", AzureDefaultRegion: "eastus",
		GCPInstanceClass: "n2-standard-32", GCPUsePremiumNetwork: true, GCPServiceAccountName: "skyplane-manual",
		GCPDefaultRegion: "us-central1-a", GatewaysPerHost: 4, InProcess: true, ChecksumAlgorithm: "auto", Solver: "direct",
	}
	if d != want {
		t.Errorf("Default() = %+v\nwant       %+v", d, want)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestKeys(t *testing.T) {
	keys := Keys()
	if len(keys) != len(originalDefaults) {
		t.Errorf("Keys() has %d keys, want %d", len(keys), len(originalDefaults))
	}
	if !slices.IsSortedFunc(keys, func(a, b Key) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("Keys() not sorted by name")
	}
	for _, k := range keys {
		want, ok := originalDefaults[k.Name]
		if !ok {
			t.Errorf("unexpected key %q", k.Name)
			continue
		}
		if k.Default != want {
			t.Errorf("Keys() %s default %q, want %q", k.Name, k.Default, want)
		}
		if k.Type != originalTypes[k.Name] {
			t.Errorf("Keys() %s type %q, want %q", k.Name, k.Type, originalTypes[k.Name])
		}
		if k.Help == "" {
			t.Errorf("Keys() %s has no help", k.Name)
		}
	}
	list := Default().List()
	if len(list) != len(keys) {
		t.Fatalf("List() has %d pairs, want %d", len(list), len(keys))
	}
	for i, kv := range list {
		if kv[0] != keys[i].Name || kv[1] != keys[i].Default {
			t.Errorf("List()[%d] = %v, want [%s %s]", i, kv, keys[i].Name, keys[i].Default)
		}
	}
}

// sampleValue returns a valid non-default value for a key of the given type.
func sampleValue(key, typ, def string) string {
	switch typ {
	case "bool":
		if def == "true" {
			return "false"
		}
		return "true"
	case "int":
		if def == "7" {
			return "8"
		}
		return "7"
	}
	switch key {
	case "s3_endpoint":
		return "https://minio.example.com:9000"
	case "usage_stats_endpoint":
		return "http://stats.example.com/v1/usage"
	case "s3_bucket_endpoints":
		return "logs=http://127.0.0.1:9000,archive=https://r2.example.com"
	case "gateway_binary":
		return "/opt/skyplane/bin/skyplane"
	case "hosts_file":
		return "/etc/skyplane/hosts.yaml"
	case "gcp_service_account_name":
		return "my-transfer-sa"
	case "checksum_algorithm":
		return ChecksumMD5 // the value other than the default
	case "solver":
		return "ilp"
	}
	return "some-other-" + strings.ReplaceAll(key, "_", "-")
}

func TestSetGetRoundTripEveryKey(t *testing.T) {
	for _, k := range Keys() {
		t.Run(k.Name, func(t *testing.T) {
			c := Default()
			v := sampleValue(k.Name, k.Type, k.Default)
			if err := c.Set(k.Name, v); err != nil {
				t.Fatalf("Set(%q, %q): %v", k.Name, v, err)
			}
			got, err := c.Get(k.Name)
			if err != nil {
				t.Fatal(err)
			}
			if got != v {
				t.Errorf("Get after Set(%q) = %q", v, got)
			}
			// Only this key changed.
			d := Default()
			for _, kv := range c.List() {
				if kv[0] == k.Name {
					continue
				}
				if want, _ := d.Get(kv[0]); kv[1] != want {
					t.Errorf("Set(%s) also changed %s to %q", k.Name, kv[0], kv[1])
				}
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate after Set: %v", err)
			}
		})
	}
}

func TestSetStructFields(t *testing.T) {
	var c Config = Default()
	steps := [][2]string{
		{"num_connections", "64"}, {"aws_use_spot_instances", "yes"}, {"s3_endpoint", " http://localhost:9000 "},
		{"gcp_default_region", "europe-west1-b"}, {"Max-Instances", "4"},
	}
	for _, s := range steps {
		if err := c.Set(s[0], s[1]); err != nil {
			t.Fatalf("Set(%q, %q): %v", s[0], s[1], err)
		}
	}
	if c.NumConnections != 64 || !c.AWSUseSpotInstances || c.S3Endpoint != "http://localhost:9000" ||
		c.GCPDefaultRegion != "europe-west1-b" || c.MaxInstances != 4 {
		t.Errorf("fields not set: %+v", c)
	}
}

func TestBoolSpellings(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"true", true}, {"TRUE", true}, {"True", true}, {"yes", true}, {"YES", true}, {"1", true},
		{"on", true}, {"On", true}, {" true ", true},
		{"false", false}, {"FALSE", false}, {"False", false}, {"no", false}, {"No", false}, {"0", false},
		{"off", false}, {"OFF", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := Default()
			c.Autoconfirm = !tt.want
			if err := c.Set("autoconfirm", tt.in); err != nil {
				t.Fatalf("Set(autoconfirm, %q): %v", tt.in, err)
			}
			if c.Autoconfirm != tt.want {
				t.Errorf("Set(autoconfirm, %q) → %v, want %v", tt.in, c.Autoconfirm, tt.want)
			}
			got, _ := c.Get("autoconfirm")
			if want := map[bool]string{true: "true", false: "false"}[tt.want]; got != want {
				t.Errorf("Get = %q, want canonical %q", got, want)
			}
		})
	}
}

func TestSetBadValues(t *testing.T) {
	tests := []struct {
		key, value string
		wantInMsg  []string
	}{
		{"autoconfirm", "maybe", []string{"autoconfirm", `"maybe"`, "true/false"}},
		{"autoconfirm", "", []string{"autoconfirm", "true/false"}},
		{"bbr", "2", []string{"bbr", `"2"`}},
		{"num_connections", "-1", []string{"num_connections", `"-1"`, "≥ 1", "1 to 1024"}},
		{"num_connections", "0", []string{"num_connections", `"0"`, "≥ 1"}},
		{"num_connections", "1025", []string{"num_connections", "≤ 1024"}},
		{"num_connections", "abc", []string{"num_connections", `"abc"`, "not a whole number"}},
		{"num_connections", "3.5", []string{"num_connections", "not a whole number"}},
		{"num_connections", "", []string{"num_connections", "not a whole number"}},
		{"num_connections", "0x10", []string{"num_connections", "not a whole number"}},
		{"num_connections", "99999999999999999999999", []string{"num_connections", "too large"}},
		{"max_instances", "0", []string{"max_instances", "≥ 1"}},
		{"max_instances", "65", []string{"max_instances", "≤ 64"}},
		{"autoshutdown_minutes", "-5", []string{"autoshutdown_minutes", "≥ 0"}},
		{"autoshutdown_minutes", "10081", []string{"autoshutdown_minutes", "≤ 10080"}},
		{"multipart_min_threshold_mb", "-1", []string{"multipart_min_threshold_mb", "≥ 0"}},
		{"multipart_chunk_size_mb", "0", []string{"multipart_chunk_size_mb", "≥ 1"}},
		{"multipart_chunk_size_mb", "1025", []string{"multipart_chunk_size_mb", "≤ 1024"}},
		{"multipart_max_chunks", "0", []string{"multipart_max_chunks", "≥ 1"}},
		{"multipart_max_chunks", "10001", []string{"multipart_max_chunks", "≤ 10000"}},
		{"native_cmd_threshold_gb", "-2", []string{"native_cmd_threshold_gb", "≥ 0"}},
		{"aws_instance_class", "", []string{"aws_instance_class", "empty"}},
		{"aws_instance_class", "   ", []string{"aws_instance_class", "empty"}},
		{"azure_instance_class", "Standard D32", []string{"azure_instance_class", "space"}},
		{"gcp_instance_class", "", []string{"gcp_instance_class", "empty"}},
		{"aws_default_region", "", []string{"aws_default_region", "empty"}},
		{"azure_default_region", "", []string{"azure_default_region", "empty"}},
		{"gcp_default_region", "", []string{"gcp_default_region", "empty"}},
		{"gcp_service_account_name", "", []string{"gcp_service_account_name", "empty"}},
		{"gcp_service_account_name", "Bad_Name", []string{"gcp_service_account_name", "service account"}},
		{"s3_endpoint", "minio:9000", []string{"s3_endpoint", `"minio:9000"`, "http"}},
		{"s3_endpoint", "localhost", []string{"s3_endpoint", "http"}},
		{"s3_endpoint", "ftp://example.com", []string{"s3_endpoint", "http"}},
		{"s3_endpoint", "http://", []string{"s3_endpoint", "no host"}},
		{"s3_endpoint", "https://:9000", []string{"s3_endpoint", "no host"}},
		{"s3_endpoint", "http://exa mple.com", []string{"s3_endpoint"}},
		{"usage_stats_endpoint", "stats.example.com/x", []string{"usage_stats_endpoint", "http"}},
		{"s3_bucket_endpoints", "data", []string{"s3_bucket_endpoints", `"data"`, "bucket=URL"}},
		{"s3_bucket_endpoints", "=http://a:1", []string{"s3_bucket_endpoints", "bucket=URL"}},
		{"s3_bucket_endpoints", "data=minio:9000", []string{"s3_bucket_endpoints", "http"}},
		{"s3_bucket_endpoints", "a/b=http://a:1", []string{"s3_bucket_endpoints", "not a bucket name"}},
		{"s3_bucket_endpoints", "a=http://x:1,a=http://y:2", []string{"s3_bucket_endpoints", "named twice"}},
		{"gateway_binary", "/bin/sky\nplane", []string{"gateway_binary", "control character"}},
		{"solver", "fastest", []string{"solver", "direct, ron or ilp"}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			c := Default()
			err := c.Set(tt.key, tt.value)
			if err == nil {
				t.Fatalf("Set(%q, %q) succeeded, want error", tt.key, tt.value)
			}
			if !errors.Is(err, ErrInvalidValue) {
				t.Errorf("error %v does not wrap ErrInvalidValue", err)
			}
			for _, s := range tt.wantInMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if !strings.Contains(err.Error(), "allowed:") {
				t.Errorf("error %q does not say what is allowed", err)
			}
			if c != Default() {
				t.Errorf("failed Set changed the config")
			}
		})
	}
}

func TestSetGoodEdgeValues(t *testing.T) {
	tests := [][2]string{
		{"num_connections", "1"}, {"num_connections", "1024"}, {"max_instances", "64"},
		{"autoshutdown_minutes", "0"}, {"autoshutdown_minutes", "10080"},
		{"multipart_min_threshold_mb", "0"}, {"multipart_min_threshold_mb", "1000000"},
		{"multipart_chunk_size_mb", "1"}, {"multipart_chunk_size_mb", "1024"},
		{"multipart_max_chunks", "1"}, {"multipart_max_chunks", "10000"},
		{"native_cmd_threshold_gb", "0"},
		{"s3_endpoint", ""}, {"s3_endpoint", "http://127.0.0.1:9000"}, {"s3_endpoint", "https://s3.example.com/prefix"},
		{"s3_endpoint", "http://[::1]:9000"}, {"usage_stats_endpoint", ""}, {"gateway_binary", ""},
		{"gateway_binary", "/path with space/skyplane"},
		{"s3_bucket_endpoints", ""}, {"s3_bucket_endpoints", "logs=http://127.0.0.1:9000"},
		{"s3_bucket_endpoints", "a=http://127.0.0.1:9000, b=https://r2.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt[0]+"="+tt[1], func(t *testing.T) {
			c := Default()
			if err := c.Set(tt[0], tt[1]); err != nil {
				t.Fatalf("Set(%q, %q): %v", tt[0], tt[1], err)
			}
			if got, _ := c.Get(tt[0]); got != tt[1] {
				t.Errorf("Get = %q, want %q", got, tt[1])
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestUnknownKey(t *testing.T) {
	tests := []struct {
		key       string
		wantInMsg []string
	}{
		{"num_conections", []string{`"num_conections"`, `"num_connections"`, "did you mean"}},
		{"autoconfrim", []string{`"autoconfirm"`}},
		{"verify_checksum", []string{`"verify_checksums"`}},
		{"instance_class", []string{`"aws_instance_class"`, `"azure_instance_class"`, `"gcp_instance_class"`}},
		{"s3endpoint", []string{`"s3_endpoint"`}},
		{"multipart_chunk_sz", []string{`did you mean "multipart_chunk_size_mb"?`}},
		{"max_instance", []string{`did you mean "max_instances"`}},
		{"frobnicate", []string{`"frobnicate"`, "skyplane config list"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			c := Default()
			for name, err := range map[string]error{
				"Set": c.Set(tt.key, "1"),
				"Get": func() error { _, err := c.Get(tt.key); return err }(),
			} {
				if err == nil {
					t.Fatalf("%s(%q) succeeded", name, tt.key)
				}
				if !errors.Is(err, ErrUnknownKey) {
					t.Errorf("%s error %v does not wrap ErrUnknownKey", name, err)
				}
				for _, s := range tt.wantInMsg {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s error %q does not mention %s", name, err, s)
					}
				}
			}
		})
	}
	c := Default()
	err := c.Set("frobnicate", "1")
	if strings.Contains(err.Error(), "did you mean") {
		t.Errorf("no close key, but error suggests one: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"negative connections", func(c *Config) { c.NumConnections = -1 }, []string{"num_connections", "≥ 1"}},
		{"zero max instances", func(c *Config) { c.MaxInstances = 0 }, []string{"max_instances"}},
		{"huge chunk", func(c *Config) { c.MultipartChunkSizeMB = 6000 }, []string{"multipart_chunk_size_mb", "≤ 1024"}},
		{"empty class", func(c *Config) { c.GCPInstanceClass = "" }, []string{"gcp_instance_class", "empty"}},
		{"bad endpoint", func(c *Config) { c.S3Endpoint = "example.com" }, []string{"s3_endpoint"}},
		{"two problems", func(c *Config) { c.MaxInstances = 0; c.AWSDefaultRegion = "" },
			[]string{"max_instances", "aws_default_region"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestLoadSaveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nested", "skyplane", "config")
	c := Default()
	for _, k := range Keys() {
		if err := c.Set(k.Name, sampleValue(k.Name, k.Type, k.Default)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got != c {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("file mode %o, want 600", m)
		}
		st, err = os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o700 {
			t.Errorf("dir mode %o, want 700", m)
		}
	}
	// The file documents itself: every key is present.
	data, _ := os.ReadFile(path)
	for _, k := range Keys() {
		if !strings.Contains(string(data), "\n"+k.Name+" = ") {
			t.Errorf("saved file lacks key %s", k.Name)
		}
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries after Save, want 1", len(ents))
	}

	// Saving defaults over it (empty strings included) also round-trips,
	// and replaces a file that had looser permissions.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Default().Save(path); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(path); err != nil || got != Default() {
		t.Errorf("Load after saving defaults = %+v, %v", got, err)
	}
	if runtime.GOOS != "windows" {
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("mode after overwrite %o, want 600", st.Mode().Perm())
		}
	}
}

func TestSaveQuotedValueRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	c := Default()
	c.GatewayBinary = `"/odd/name"`
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.GatewayBinary != c.GatewayBinary {
		t.Errorf("GatewayBinary = %q, want %q", got.GatewayBinary, c.GatewayBinary)
	}
}

func TestSaveRefusesInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	c := Default()
	c.NumConnections = 0
	if err := c.Save(path); err == nil {
		t.Fatal("Save of invalid config succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("invalid config was written (stat err %v)", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "does", "not", "exist"))
	if err != nil {
		t.Fatalf("Load of missing file: %v", err)
	}
	if c != Default() {
		t.Errorf("Load of missing file = %+v, want defaults", c)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFormat(t *testing.T) {
	path := writeFile(t, "\ufeff# a comment\n"+
		"; an INI comment\n"+
		"\n"+
		"[client]\n"+
		"  autoconfirm = True  \n"+
		"num_connections=8\n"+
		"compress: false\n"+
		"s3_endpoint = http://localhost:9000/#frag\n"+
		"gateway_binary = \"\"\n"+
		"aws_default_region = 'eu-west-1'\n"+
		"[aws]\n"+
		"aws_enabled = True\n"+
		"[gcp]\n"+
		"project_id = my-project\n"+
		"gcp_enabled = False\n"+
		"[azure]\n"+
		"subscription_id = 0000\n"+
		"[flags]\n"+
		"multipart_min_size_mb = 8\n"+
		"Max_Instances = 3\n")
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Default()
	want.Autoconfirm = true
	want.NumConnections = 8
	want.Compress = false
	want.S3Endpoint = "http://localhost:9000/#frag"
	want.AWSDefaultRegion = "eu-west-1"
	want.MaxInstances = 3
	if c != want {
		t.Errorf("Load:\n got %+v\nwant %+v", c, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"malformed line", "# ok\n[client]\nautoconfirm = true\nthis line is wrong\n",
			[]string{":4:", "malformed", "key = value"}},
		{"bad value", "[client]\n\nnum_connections = lots\n",
			[]string{":3:", "num_connections", `"lots"`, "default (32)"}},
		{"negative value", "max_instances = -1\n",
			[]string{":1:", "max_instances", "≥ 1"}},
		{"unknown key", "# c\nnum_conections = 4\n",
			[]string{":2:", `"num_connections"`, "delete the line"}},
		{"unknown key in client", "[client]\naws_enabled = true\n",
			[]string{":2:", "aws_enabled"}},
		{"duplicate", "bbr = true\nbbr = false\n",
			[]string{":2:", "bbr", "line 1"}},
		{"bad section", "[client\nbbr = true\n",
			[]string{":1:", "section"}},
		{"empty key", "= 5\n",
			[]string{":1:", "no key"}},
		{"bad url", "\n\n\n\ns3_endpoint = minio:9000\n",
			[]string{":5:", "s3_endpoint", "http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+":") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			for _, s := range tt.want {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	// A directory where the file should be is an error, not defaults.
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("Load of a directory succeeded")
	}
}

func TestPathAndStateDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	t.Setenv("SKYPLANE_CONFIG", "")
	t.Setenv("SKYPLANE_STATE_DIR", "")
	if got, want := Path(os.Getenv), filepath.Join(home, ".skyplane", "config"); got != want {
		t.Errorf("Path(os.Getenv) = %q, want %q", got, want)
	}
	if got, want := StateDir(os.Getenv), filepath.Join(home, ".skyplane"); got != want {
		t.Errorf("StateDir(os.Getenv) = %q, want %q", got, want)
	}

	cfg := filepath.Join(t.TempDir(), "elsewhere", "sky.conf")
	t.Setenv("SKYPLANE_CONFIG", cfg)
	if got := Path(os.Getenv); got != cfg {
		t.Errorf("Path(os.Getenv) with SKYPLANE_CONFIG = %q, want %q", got, cfg)
	}
	if got, want := StateDir(os.Getenv), filepath.Dir(cfg); got != want {
		t.Errorf("StateDir(os.Getenv) follows config: %q, want %q", got, want)
	}

	state := t.TempDir()
	t.Setenv("SKYPLANE_STATE_DIR", state)
	if got := StateDir(os.Getenv); got != state {
		t.Errorf("StateDir(os.Getenv) with SKYPLANE_STATE_DIR = %q, want %q", got, state)
	}
	if got := Path(os.Getenv); got != cfg {
		t.Errorf("SKYPLANE_STATE_DIR changed Path(os.Getenv) to %q", got)
	}

	t.Setenv("SKYPLANE_CONFIG", "~/custom/config")
	if got, want := Path(os.Getenv), filepath.Join(home, "custom", "config"); got != want {
		t.Errorf("Path(os.Getenv) with ~ = %q, want %q", got, want)
	}
}

func TestUsageStatsEnabled(t *testing.T) {
	tests := []struct {
		env    string
		config bool
		want   bool
	}{
		{"", true, true},
		{"", false, false},
		{"0", true, false},
		{"false", true, false},
		{"FALSE", true, false},
		{"no", true, false},
		{"off", true, false},
		{"1", false, true},
		{"true", false, true},
		{"Yes", false, true},
		{"on", false, true},
		{"garbage", true, true},
		{"garbage", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.env+"/"+map[bool]string{true: "on", false: "off"}[tt.config], func(t *testing.T) {
			t.Setenv("SKYPLANE_USAGE_STATS_ENABLED", tt.env)
			c := Default()
			c.UsageStats = tt.config
			if got := UsageStatsEnabled(c, os.Getenv); got != tt.want {
				t.Errorf("UsageStatsEnabled(env=%q, config=%v) = %v, want %v", tt.env, tt.config, got, tt.want)
			}
		})
	}
}

func TestSuggestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"kitten", "sitting", 3},
		{"num_conections", "num_connections", 1}, {"same", "same", 0},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestS3EndpointFor(t *testing.T) {
	c := Default()
	c.S3Endpoint = "http://default:9000"
	c.S3BucketEndpoints = "west=http://west:9000, east=https://east.example.com"
	for _, tt := range []struct{ bucket, want string }{
		{"west", "http://west:9000"},
		{"east", "https://east.example.com"},
		{"other", "http://default:9000"},
		{"", "http://default:9000"},
	} {
		if got := c.S3EndpointFor(tt.bucket); got != tt.want {
			t.Errorf("S3EndpointFor(%q) = %q, want %q", tt.bucket, got, tt.want)
		}
	}
	c.S3Endpoint = ""
	if got := c.S3EndpointFor("other"); got != "" {
		t.Errorf("no s3_endpoint: S3EndpointFor(other) = %q, want AWS (\"\")", got)
	}
}
