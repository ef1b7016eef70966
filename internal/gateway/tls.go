package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
)

// tlsConfigs builds the client and server configurations from the boot
// identity: both present the dataplane certificate and trust only it.
func tlsConfigs(certPEM, keyPEM []byte) (client, server *tls.Config, err error) {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return nil, nil, errors.New("encrypt_socket_tls is on but the gateway has no TLS identity")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, nil, errors.New("bad dataplane certificate")
	}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: control.TLSServerName, MinVersion: tls.VersionTLS13}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	return client, server, nil
}
