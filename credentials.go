package skyplane

import "github.com/skyplane-project/skyplane-go/internal/objstore"

// StoreCredentials are what the stores need beyond each cloud SDK's own
// credential chain (which reads its standard places itself): the GCS
// emulator and project, Azure storage credentials and static S3 keys. The library reads no
// environment: a command passes them with WithStoreCredentials, typically
// from StoreCredentialsFromEnv(os.Getenv).
type StoreCredentials struct {
	// GCSEmulatorHost (host:port) sends GCS requests to an emulator,
	// unauthenticated (STORAGE_EMULATOR_HOST).
	GCSEmulatorHost string
	// GCSProject is the project new GCS buckets belong to (GOOGLE_CLOUD_PROJECT).
	GCSProject string
	// AzureConnectionString authenticates Azure Blob when its account
	// matches the URL's (AZURE_STORAGE_CONNECTION_STRING; also how the
	// Azurite emulator is reached).
	AzureConnectionString string
	// AzureAccountKey is a shared key for AzureAccount (AZURE_STORAGE_KEY,
	// AZURE_STORAGE_ACCOUNT); without either, DefaultAzureCredential.
	AzureAccountKey, AzureAccount string
	// S3AccessKeyID, S3SecretAccessKey and S3SessionToken are static S3
	// keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN);
	// without them, the AWS SDK's own chain. Gateways on inventory hosts,
	// which do not share this process's environment, get them in their
	// boot file.
	S3AccessKeyID, S3SecretAccessKey, S3SessionToken string
}

// StoreCredentialsFromEnv reads StoreCredentials the way the clouds' own
// tools name them; getenv is os.Getenv in a command.
func StoreCredentialsFromEnv(getenv func(string) string) StoreCredentials {
	o := objstore.OptionsFromEnv(getenv)
	return StoreCredentials{
		GCSEmulatorHost: o.GCSEmulatorHost, GCSProject: o.GCSProject,
		AzureConnectionString: o.Azure.ConnectionString, AzureAccountKey: o.Azure.AccountKey, AzureAccount: o.Azure.Account,
		S3AccessKeyID: o.S3.AccessKeyID, S3SecretAccessKey: o.S3.SecretAccessKey, S3SessionToken: o.S3.SessionToken,
	}
}

// WithStoreCredentials gives every store the client opens these credentials.
// Local gateways are started with the same ones.
func WithStoreCredentials(sc StoreCredentials) Option {
	return func(c *Client) { c.stores = sc.options() }
}

func (sc StoreCredentials) options() objstore.Options {
	return objstore.Options{
		GCSEmulatorHost: sc.GCSEmulatorHost, GCSProject: sc.GCSProject,
		Azure: objstore.AzureCredentials{ConnectionString: sc.AzureConnectionString, AccountKey: sc.AzureAccountKey, Account: sc.AzureAccount},
		S3:    objstore.S3Credentials{AccessKeyID: sc.S3AccessKeyID, SecretAccessKey: sc.S3SecretAccessKey, SessionToken: sc.S3SessionToken},
	}
}
