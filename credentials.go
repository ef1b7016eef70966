package skyplane

import "github.com/skyplane-project/skyplane-go/internal/objstore"

// StoreCredentials are what the stores need beyond each cloud SDK's own
// credential chain (which reads its standard places itself): the GCS
// emulator and project, and Azure storage credentials. The library reads no
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
}

// StoreCredentialsFromEnv reads StoreCredentials the way the clouds' own
// tools name them; getenv is os.Getenv in a command.
func StoreCredentialsFromEnv(getenv func(string) string) StoreCredentials {
	o := objstore.OptionsFromEnv(getenv)
	return StoreCredentials{
		GCSEmulatorHost: o.GCSEmulatorHost, GCSProject: o.GCSProject,
		AzureConnectionString: o.Azure.ConnectionString, AzureAccountKey: o.Azure.AccountKey, AzureAccount: o.Azure.Account,
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
	}
}
