// Package azure is the Azure Blob Storage backend of objstore (scheme "azure").
//
// A Store is one container of one storage account. Both URL forms
// azure://account/container/key and https://account.blob.core.windows.net/container/key
// parse to the same objstore.Location and open the same container.
//
// # Credentials
//
// Open picks the first that applies, and remembers which one it used: every
// error names it, together with what to check.
//
// Commands fill Options.Azure from the environment variables named here
// (objstore.OptionsFromEnv); the backend reads no environment itself.
//
//  1. AZURE_STORAGE_CONNECTION_STRING, when its account (AccountName, or the
//     account of UseDevelopmentStorage=true, or the one named by BlobEndpoint)
//     is the URL's account. Its BlobEndpoint (or DefaultEndpointsProtocol and
//     EndpointSuffix) gives the service URL; this is how the Azurite emulator
//     is reached. AccountKey (shared key) and SharedAccessSignature are supported.
//  2. AZURE_STORAGE_KEY, a shared account key (ignored when AZURE_STORAGE_ACCOUNT
//     is set to another account). The service URL is
//     https://<account>.blob.core.windows.net/, or Options.Endpoint when set.
//  3. azidentity.DefaultAzureCredential (environment service principal, workload
//     identity, managed identity, Azure CLI, Azure Developer CLI); Options.Endpoint
//     overrides the service URL here too.
//
// # Objects and striped uploads
//
// Write is a single Put Blob (atomic) carrying the caller's MD5 as Content-MD5,
// so the service verifies the body, and as the blob's stored Content-MD5. Above
// the single-put limit (5000 MiB) it stages blocks of an internal upload and
// commits them with one Put Block List, which is atomic too.
//
// A multipart upload is a set of uncommitted blocks of the destination blob.
// InitiateMultipart only draws a random upload id (32 hex digits) and makes no
// request. Part n is staged as block id
//
//	base64(fmt.Sprintf("%s-%06d", uploadID, n))     // always 39 bytes before encoding
//
// so every block id of every upload has the same length (Azure requires that
// of all blocks of one blob) and the upload id and part number can be
// recovered from the blob's uncommitted block list: no state is kept between
// calls, and parts may come from several processes in any order.
// CompleteMultipart reads the uncommitted block list, checks every part is
// there with its size, and commits the ids in part order. Staged blocks never
// show in List or Head, and a blob that already exists at the key stays as it
// was until the commit replaces it.
//
// AbortMultipart cannot delete single uncommitted blocks: Azure has no such
// operation. When the key holds no committed blob and no other live upload,
// it deletes the blob, which removes every uncommitted block at once (the
// service and Azurite both allow Delete Blob on a blob that has only
// uncommitted blocks). Otherwise, to leave the committed blob (or the other
// upload) intact, it stages a one-byte tombstone block with part number 0
// (base64(uploadID + "-000000")): the upload is then considered gone by
// ListMultipartUploads and CompleteMultipart, and its blocks are discarded
// by the service at the next commit to that blob or garbage-collected after
// seven days without activity on it.
//
// ListMultipartUploads lists the blobs under the prefix including
// uncommitted ones, reads each one's uncommitted block list (concurrently),
// and reports every upload id that has staged parts and no tombstone. That is
// one Get Block List request per blob under the prefix.
//
// Azure semantics the interface cannot hide: a commit to a blob discards
// every uncommitted block of it, so of two uploads to the same key the first
// to complete wins and the other fails with ErrUploadNotFound; Delete (and a
// Write) of a key also discards staged blocks there; a part staged after its
// upload was aborted by deletion reappears as an open upload (abort again,
// as with S3). Abort checks for a committed blob and then deletes: a commit
// by someone else between those two requests would be lost.
//
// Errors wrap the objstore sentinels: ContainerNotFound → ErrBucketNotFound;
// BlobNotFound → ErrNotFound; AuthenticationFailed, Authorization* and any
// 403 → ErrAccessDenied; Md5Mismatch, InvalidMd5 → ErrChecksumMismatch;
// ServerBusy, InternalError, OperationTimedOut, 408, 429, 5xx, connection
// resets and timeouts (after the SDK's five tries with exponential backoff)
// → objstore.Retryable. Messages name the account, container, key and the
// credential source, and say what to check.
//
// The data-plane API does not tell which region an account is in, so Store
// does not implement objstore.Locator and the planner falls back to its
// default region for Azure.
package azure

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Environment variables of Options.Azure, named in messages.
const (
	EnvConnectionString = objstore.EnvAzureConnectionString
	EnvAccountKey       = objstore.EnvAzureAccountKey
	EnvAccount          = objstore.EnvAzureAccount
)

// Service limits.
const (
	// MaxSinglePutSize is the largest body of one Put Blob (service version 2019-12-12 and later).
	MaxSinglePutSize = 5000 << 20
	// MaxBlockSize is the largest block (service version 2019-12-12 and later).
	MaxBlockSize = 4000 << 20
	// MaxBlocks is the most committed blocks of one blob.
	MaxBlocks = 50000

	defaultPageSize       = 1000
	defaultWriteBlockSize = 100 << 20
	listUploadsWorkers    = 16
)

func init() {
	objstore.Register(objstore.SchemeAzure, Open)
}

// credKind says where a Store's credential came from.
type credKind int

const (
	credConnString credKind = iota + 1
	credSharedKey
	credDefault
)

// Store is one Azure Blob container.
type Store struct {
	account   string
	container string
	cc        *container.Client
	credKind  credKind
	cred      string // human-readable credential source, named in every error
	endpoint  string // service URL, for messages
	retries   *objstore.RetryCounter

	// Tunables (tests shrink them).
	pageSize       int32 // List page size (MaxResults)
	singlePutLimit int64 // Write above this stages blocks
	writeBlockSize int64 // block size of a staged Write
	onListPage     func(n int)
}

var _ objstore.Store = (*Store)(nil)

// Open opens the container loc.Bucket of storage account loc.Account. It makes
// no request; BucketExists checks the container.
func Open(ctx context.Context, loc objstore.Location, opts objstore.Options) (objstore.Store, error) {
	return open(loc, opts)
}

func open(loc objstore.Location, opts objstore.Options) (*Store, error) {
	if loc.Scheme != "" && loc.Scheme != objstore.SchemeAzure {
		return nil, fmt.Errorf("azure: cannot open %s: not an azure:// location", loc)
	}
	if loc.Account == "" || loc.Bucket == "" {
		return nil, fmt.Errorf("azure: cannot open %s: want azure://account/container (or https://ACCOUNT.blob.core.windows.net/container)", loc)
	}
	s := &Store{
		account:        loc.Account,
		container:      loc.Bucket,
		pageSize:       defaultPageSize,
		singlePutLimit: MaxSinglePutSize,
		writeBlockSize: defaultWriteBlockSize,
		retries:        opts.Retries,
	}
	if err := s.connect(opts); err != nil {
		return nil, err
	}
	return s, nil
}

// connect picks the credential (see the package documentation) and builds the container client.
func (s *Store) connect(opts objstore.Options) error {
	if cs := opts.Azure.ConnectionString; cs != "" {
		p, err := parseConnString(cs)
		if err != nil {
			return fmt.Errorf("azure: %s: %w (want AccountName=...;AccountKey=...;BlobEndpoint=... or UseDevelopmentStorage=true)", EnvConnectionString, err)
		}
		if p.account == s.account {
			return s.connectConnString(p)
		}
	}
	if key := opts.Azure.AccountKey; key != "" {
		if a := opts.Azure.Account; a == "" || a == s.account {
			return s.connectSharedKey(key, opts.Endpoint)
		}
	}
	return s.connectDefault(opts.Endpoint)
}

func containerURL(endpoint, name string) string {
	return strings.TrimRight(endpoint, "/") + "/" + url.PathEscape(name)
}

func defaultEndpoint(account string) string {
	return "https://" + account + ".blob.core.windows.net/"
}

func (s *Store) connectConnString(p connString) error {
	s.credKind, s.endpoint = credConnString, p.endpoint
	u := containerURL(p.endpoint, s.container)
	var err error
	switch {
	case p.key != "":
		s.cred = fmt.Sprintf("shared key of account %s from %s (endpoint %s)", p.account, EnvConnectionString, p.endpoint)
		var cred *container.SharedKeyCredential
		if cred, err = container.NewSharedKeyCredential(p.account, p.key); err != nil {
			return fmt.Errorf("azure: %s: AccountKey is not a valid base64 account key: %w", EnvConnectionString, err)
		}
		s.cc, err = container.NewClientWithSharedKeyCredential(u, cred, s.clientOptions())
	case p.sas != "":
		s.cred = fmt.Sprintf("shared access signature for account %s from %s (endpoint %s)", p.account, EnvConnectionString, p.endpoint)
		s.cc, err = container.NewClientWithNoCredential(u+"?"+strings.TrimPrefix(p.sas, "?"), s.clientOptions())
	default:
		return fmt.Errorf("azure: %s names account %s but has neither AccountKey nor SharedAccessSignature", EnvConnectionString, p.account)
	}
	if err != nil {
		return fmt.Errorf("azure: %s: %w", s.cred, err)
	}
	return nil
}

func (s *Store) connectSharedKey(key, endpoint string) error {
	if endpoint == "" {
		endpoint = defaultEndpoint(s.account)
	}
	s.credKind, s.endpoint = credSharedKey, endpoint
	s.cred = fmt.Sprintf("shared key of account %s from %s (endpoint %s)", s.account, EnvAccountKey, endpoint)
	cred, err := container.NewSharedKeyCredential(s.account, key)
	if err != nil {
		return fmt.Errorf("azure: %s is not a valid base64 account key: %w", EnvAccountKey, err)
	}
	if s.cc, err = container.NewClientWithSharedKeyCredential(containerURL(endpoint, s.container), cred, s.clientOptions()); err != nil {
		return fmt.Errorf("azure: %s: %w", s.cred, err)
	}
	return nil
}

func (s *Store) connectDefault(endpoint string) error {
	if endpoint == "" {
		endpoint = defaultEndpoint(s.account)
	}
	s.credKind, s.endpoint = credDefault, endpoint
	s.cred = fmt.Sprintf("DefaultAzureCredential for account %s (environment service principal, workload identity, managed identity or Azure CLI login; endpoint %s)", s.account, endpoint)
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return fmt.Errorf("azure: no credential for storage account %s: set %s or %s, or sign in with `az login`: %w", s.account, EnvConnectionString, EnvAccountKey, err)
	}
	if s.cc, err = container.NewClient(containerURL(endpoint, s.container), cred, s.clientOptions()); err != nil {
		return fmt.Errorf("azure: %s: %w", s.cred, err)
	}
	return nil
}

// CredentialSource describes the credential the store uses, e.g. "shared key
// of account x from AZURE_STORAGE_KEY (endpoint ...)".
func (s *Store) CredentialSource() string { return s.cred }

// URL is "azure://account/container".
func (s *Store) URL() string { return "azure://" + s.account + "/" + s.container }

// Features: no minimum part size; at most 50,000 blocks per blob.
func (s *Store) Features() objstore.Features {
	return objstore.Features{MinPartSize: 0, MaxParts: MaxBlocks, ReportsMD5: true}
}

// BucketExists reads the container's properties.
func (s *Store) BucketExists(ctx context.Context) error {
	if _, err := s.cc.GetProperties(ctx, nil); err != nil {
		return s.containerErr("check container", err)
	}
	return nil
}

// List yields the committed blobs under prefix, page by page, in the
// service's lexicographic order. Uncommitted blobs are never listed.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		opts := &container.ListBlobsFlatOptions{MaxResults: to.Ptr(s.pageSize)}
		if prefix != "" {
			opts.Prefix = to.Ptr(prefix)
		}
		pager := s.cc.NewListBlobsFlatPager(opts)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				yield(objstore.Object{}, s.containerErr(fmt.Sprintf("list prefix %q of", prefix), err))
				return
			}
			var items []*container.BlobItem
			if page.Segment != nil {
				items = page.Segment.BlobItems
			}
			if s.onListPage != nil {
				s.onListPage(len(items))
			}
			for _, it := range items {
				if it == nil || it.Name == nil {
					continue
				}
				o := objstore.Object{Key: *it.Name}
				if p := it.Properties; p != nil {
					if p.ContentLength != nil {
						o.Size = *p.ContentLength
					}
					if p.LastModified != nil {
						o.ModTime = *p.LastModified
					}
					o.MD5 = md5Of(p.ContentMD5)
					setETag(&o, p.ETag)
				}
				if !yield(o, nil) {
					return
				}
			}
		}
	}
}

func md5Of(b []byte) []byte {
	if len(b) != 16 {
		return nil
	}
	return b
}

// setETag records the blob's ETag, which is also its version: the service
// changes it on every write and compares it for If-Match.
func setETag(o *objstore.Object, etag *azcore.ETag) {
	if etag != nil {
		// Listings give it bare, Get Properties quoted.
		o.ETag = strings.Trim(string(*etag), `"`)
		o.Version = o.ETag
	}
}

// Head reads the blob's properties.
func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	p, err := s.cc.NewBlobClient(key).GetProperties(ctx, nil)
	if err != nil {
		return objstore.Object{}, s.blobErr("head", key, err)
	}
	o := objstore.Object{Key: key, MD5: md5Of(p.ContentMD5)}
	setETag(&o, p.ETag)
	if p.ContentLength != nil {
		o.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		o.ModTime = *p.LastModified
	}
	return o, nil
}

// Read returns length bytes from offset (length < 0: to the end). A read of
// length 0 makes no request.
func (s *Store) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return s.read(ctx, key, "", offset, length)
}

// ReadVersion implements objstore.VersionReader: Read with If-Match on the
// ETag (version); ConditionNotMet (412) becomes objstore.ErrChanged.
func (s *Store) ReadVersion(ctx context.Context, key, version string, offset, length int64) (io.ReadCloser, error) {
	if version == "" {
		return nil, fmt.Errorf("azure: read %s: empty version", s.where(key))
	}
	return s.read(ctx, key, version, offset, length)
}

func (s *Store) read(ctx context.Context, key, etag string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("azure: read %s: negative offset %d", s.where(key), offset)
	}
	bc := s.cc.NewBlobClient(key)
	var cond *blob.AccessConditions
	if etag != "" {
		cond = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: to.Ptr(azcore.ETag(`"` + etag + `"`))}}
	}
	if length == 0 && cond != nil {
		// Nothing to read, but the version must still be the one pinned.
		if _, err := bc.GetProperties(ctx, &blob.GetPropertiesOptions{AccessConditions: cond}); err != nil {
			return nil, s.blobErr("read", key, err)
		}
	}
	if length == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	rng := blob.HTTPRange{Offset: offset}
	if length > 0 {
		rng.Count = length
	}
	resp, err := bc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: rng, AccessConditions: cond})
	if err != nil {
		if length < 0 && offset > 0 && hasCode(err, "InvalidRange") {
			// Reading from the very end of a blob: the service answers 416.
			if o, herr := s.Head(ctx, key); herr == nil && o.Size == offset {
				return io.NopCloser(bytes.NewReader(nil)), nil
			}
		}
		return nil, s.blobErr(fmt.Sprintf("read (offset %d, length %d)", offset, length), key, err)
	}
	rr := resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3})
	return &readCloser{rc: rr, s: s, key: key}, nil
}

// readCloser maps errors met while reading the body.
type readCloser struct {
	rc  io.ReadCloser
	s   *Store
	key string
}

func (r *readCloser) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.blobErr("read body of", r.key, err)
	}
	return n, err
}

func (r *readCloser) Close() error { return r.rc.Close() }

// Write stores size bytes of r as key with one Put Blob (or, above the
// single-put limit, staged blocks committed at once). A non-nil md5 is
// checked by the service and stored as the blob's Content-MD5.
func (s *Store) Write(ctx context.Context, key string, r io.Reader, size int64, md5 []byte) error {
	if size < 0 {
		return fmt.Errorf("azure: write %s: negative size %d", s.where(key), size)
	}
	if md5 != nil && len(md5) != 16 {
		return fmt.Errorf("azure: write %s: MD5 has %d bytes, want 16", s.where(key), len(md5))
	}
	if size > s.singlePutLimit {
		return s.writeStaged(ctx, key, r, size, md5)
	}
	opts := &blockblob.UploadOptions{}
	if md5 != nil {
		opts.TransactionalValidation = blob.TransferValidationTypeMD5(md5)
		opts.HTTPHeaders = &blob.HTTPHeaders{BlobContentMD5: md5}
	}
	if _, err := s.cc.NewBlockBlobClient(key).Upload(ctx, newBody(r, size), opts); err != nil {
		return s.blobErr(fmt.Sprintf("write (%d bytes)", size), key, err)
	}
	return nil
}

// Delete removes the blob and its snapshots; a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.cc.NewBlobClient(key).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil && !isBlobNotFound(err) {
		return s.blobErr("delete", key, err)
	}
	return nil
}
