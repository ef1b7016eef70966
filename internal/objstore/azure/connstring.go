package azure

import (
	"errors"
	"net/url"
	"strings"
)

// The Azurite / storage emulator account (public, documented values).
const (
	devAccount  = "devstoreaccount1"
	devKey      = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	devEndpoint = "http://127.0.0.1:10000/devstoreaccount1"
)

// connString is the part of a storage connection string the blob backend uses.
type connString struct {
	account  string
	key      string
	sas      string
	endpoint string // blob service URL
}

// parseConnString parses "Key=Value;..." pairs (names case-insensitive, values
// may contain '='). The account is AccountName, else the one of
// UseDevelopmentStorage=true, else the one BlobEndpoint names.
func parseConnString(s string) (connString, error) {
	kv := map[string]string{}
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return connString{}, errors.New("malformed connection string: a segment has no '='")
		}
		kv[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	var p connString
	if strings.EqualFold(kv["usedevelopmentstorage"], "true") {
		p = connString{account: devAccount, key: devKey, endpoint: devEndpoint}
		if proxy := kv["developmentstorageproxyuri"]; proxy != "" {
			p.endpoint = strings.TrimRight(proxy, "/") + "/" + devAccount
		}
	}
	if v := kv["accountname"]; v != "" {
		p.account = v
	}
	if v := kv["accountkey"]; v != "" {
		p.key = v
	}
	p.sas = kv["sharedaccesssignature"]
	if v := kv["blobendpoint"]; v != "" {
		p.endpoint = v
	}
	if p.account == "" && p.endpoint != "" {
		p.account = accountFromEndpoint(p.endpoint)
	}
	if p.account == "" {
		return connString{}, errors.New("connection string names no account (AccountName or BlobEndpoint)")
	}
	if p.endpoint == "" {
		proto, suffix := kv["defaultendpointsprotocol"], kv["endpointsuffix"]
		if proto == "" {
			proto = "https"
		}
		if suffix == "" {
			suffix = "core.windows.net"
		}
		p.endpoint = proto + "://" + p.account + ".blob." + suffix
	}
	if u, err := url.Parse(p.endpoint); err != nil || u.Scheme == "" || u.Host == "" {
		return connString{}, errors.New("BlobEndpoint " + p.endpoint + " is not an absolute URL")
	}
	return p, nil
}

// accountFromEndpoint returns the account an endpoint URL names:
// https://ACCOUNT.blob.core.windows.net or an emulator's http://host:port/ACCOUNT.
func accountFromEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	if first, _, ok := strings.Cut(u.Hostname(), ".blob."); ok {
		return first
	}
	seg, _, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	return seg
}
