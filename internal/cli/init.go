package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go/internal/config"
)

func newInit(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Detect cloud credentials and write the config file",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfigFile()
			if err != nil {
				return err
			}
			path := config.Path(os.Getenv)
			if err := cfg.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Config written to %s\n", path)
			detect := []struct{ cloud, how string }{
				{"AWS", credAWS()},
				{"GCP", credGCP()},
				{"Azure", credAzure()},
			}
			for _, d := range detect {
				fmt.Fprintf(e.stdout, "  %-6s %s\n", d.cloud+":", d.how)
			}
			fmt.Fprintln(e.stdout, "Local disk and local gateways need no credentials: try `skyplane cp -r ./src ./dst`.")
			return nil
		},
	}
}

func credAWS() string {
	switch {
	case os.Getenv("AWS_ACCESS_KEY_ID") != "":
		return "credentials from AWS_ACCESS_KEY_ID"
	case os.Getenv("AWS_PROFILE") != "":
		return "profile " + os.Getenv("AWS_PROFILE")
	case fileExists(home(".aws/credentials")) || fileExists(home(".aws/config")):
		return "shared credentials in ~/.aws"
	}
	return "no credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or run `aws configure`)"
}

func credGCP() string {
	switch {
	case os.Getenv("GOOGLE_APPLICATION_CREDENTIALS") != "":
		return "service account key from GOOGLE_APPLICATION_CREDENTIALS"
	case fileExists(home(".config/gcloud/application_default_credentials.json")):
		return "application default credentials (gcloud)"
	}
	return "no credentials found (run `gcloud auth application-default login`)"
}

func credAzure() string {
	switch {
	case os.Getenv("AZURE_STORAGE_CONNECTION_STRING") != "":
		return "connection string from AZURE_STORAGE_CONNECTION_STRING"
	case os.Getenv("AZURE_CLIENT_ID") != "":
		return "service principal from AZURE_CLIENT_ID"
	case fileExists(home(".azure/azureProfile.json")):
		return "Azure CLI login"
	}
	return "no credentials found (run `az login`)"
}

func home(rel string) string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return h + "/" + rel
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return p != "" && err == nil
}
