package objstore

// Environment variables OptionsFromEnv reads: the names the clouds' own
// tools use.
const (
	EnvGCSEmulatorHost       = "STORAGE_EMULATOR_HOST"
	EnvGCSProject            = "GOOGLE_CLOUD_PROJECT"
	EnvAzureConnectionString = "AZURE_STORAGE_CONNECTION_STRING"
	EnvAzureAccountKey       = "AZURE_STORAGE_KEY"
	EnvAzureAccount          = "AZURE_STORAGE_ACCOUNT"
	EnvS3AccessKeyID         = "AWS_ACCESS_KEY_ID"
	EnvS3SecretAccessKey     = "AWS_SECRET_ACCESS_KEY"
	EnvS3SessionToken        = "AWS_SESSION_TOKEN"
)

// OptionsFromEnv returns the Options a command takes from its environment
// (getenv is os.Getenv there; library code passes Options along instead of
// reading the environment).
func OptionsFromEnv(getenv func(string) string) Options {
	return Options{
		GCSEmulatorHost: getenv(EnvGCSEmulatorHost),
		GCSProject:      getenv(EnvGCSProject),
		Azure: AzureCredentials{
			ConnectionString: getenv(EnvAzureConnectionString),
			AccountKey:       getenv(EnvAzureAccountKey),
			Account:          getenv(EnvAzureAccount),
		},
		S3: S3Credentials{
			AccessKeyID:     getenv(EnvS3AccessKeyID),
			SecretAccessKey: getenv(EnvS3SecretAccessKey),
			SessionToken:    getenv(EnvS3SessionToken),
		},
	}
}
