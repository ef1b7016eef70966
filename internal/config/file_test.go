package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pythonConfig is a config file as the Python original writes it: cloud
// sections with keys this build does not own, flags in [flags].
const pythonConfig = "[aws]\n" +
	"aws_enabled = True\n" +
	"\n" +
	"[azure]\n" +
	"azure_enabled = True\n" +
	"azure_subscription_id = 00000000-0000-0000-0000-000000000000\n" +
	"azure_resource_group = skyplane\n" +
	"\n" +
	"[gcp]\n" +
	"gcp_enabled = True\n" +
	"gcp_project_id = my-project-123\n" +
	"\n" +
	"[flags]\n" +
	"autoconfirm = True\n" +
	"num_connections = 8\n" +
	"; a comment the user wrote\n" +
	"\n"

func TestSaveEditsInPlace(t *testing.T) {
	tests := []struct {
		name string
		old  string
		set  [][2]string
		want string
	}{
		{
			name: "unchanged values keep their spelling",
			old:  pythonConfig,
			set:  [][2]string{{"autoconfirm", "yes"}},
			want: pythonConfig,
		},
		{
			name: "a changed key is rewritten where it is",
			old:  pythonConfig,
			set:  [][2]string{{"num_connections", "16"}},
			want: strings.Replace(pythonConfig, "num_connections = 8", "num_connections = 16", 1),
		},
		{
			name: "a new key goes to the end of [flags]",
			old:  pythonConfig,
			set:  [][2]string{{"max_instances", "4"}},
			want: strings.Replace(pythonConfig, "; a comment the user wrote\n", "; a comment the user wrote\nmax_instances = 4\n", 1),
		},
		{
			name: "a new key goes to [client] before a later section",
			old:  "[client]\r\ncompress = false\r\n\r\n[gcp]\r\ngcp_project_id = p\r\n",
			set:  [][2]string{{"max_instances", "2"}, {"compress", "true"}},
			want: "[client]\r\ncompress = true\r\nmax_instances = 2\n\r\n[gcp]\r\ngcp_project_id = p\r\n",
		},
		{
			name: "no section of ours: a [client] section is added",
			old:  "[gcp]\ngcp_project_id = p",
			set:  [][2]string{{"s3_endpoint", "http://127.0.0.1:9000"}},
			want: "[gcp]\ngcp_project_id = p\n\n[client]\ns3_endpoint = http://127.0.0.1:9000\n",
		},
		{
			name: "a key back at its default stays in the file with the default",
			old:  "max_instances: 3\n[aws]\naws_enabled = False\n",
			set:  [][2]string{{"max_instances", "1"}},
			want: "max_instances: 1\n[aws]\naws_enabled = False\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, []byte(tt.old), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range tt.set {
				if err := c.Set(kv[0], kv[1]); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Save(path); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Errorf("file after Save:\n%q\nwant\n%q", got, tt.want)
			}
			back, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if back != c {
				t.Errorf("Load after Save:\n got %+v\nwant %+v", back, c)
			}
		})
	}
}
