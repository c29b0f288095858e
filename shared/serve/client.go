package serve

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// The clients below are for one-shot commands (health, step-down,
// check): they keep no connection open once a request is done.

// LocalClient is a client of the node itself and its base URL: 127.0.0.1
// at HTTP_ADDR's port. Over TLS (TLS_CERT_FILE set) it trusts exactly
// the certificate in TLS_CERT_FILE: the node is itself, under whatever
// name its certificate has.
func LocalClient(node Node, timeout time.Duration) (*http.Client, string, error) {
	_, port, err := net.SplitHostPort(node.Addr)
	if err != nil {
		return nil, "", fmt.Errorf("HTTP_ADDR %q: %w", node.Addr, err)
	}
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	if node.TLSCert == "" {
		return c, "http://" + net.JoinHostPort("127.0.0.1", port), nil
	}
	certs, err := readCertificates(node.TLSCert)
	if err != nil {
		return nil, "", fmt.Errorf("probe: TLS_CERT_FILE: %w", err)
	}
	leaf := certs[0].Raw
	c.Transport = &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below, not skipped
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return errors.New("the node presented another certificate than TLS_CERT_FILE")
			}
			return nil
		},
	}}
	return c, "https://" + net.JoinHostPort("127.0.0.1", port), nil
}

// PeerClient is a client of the other nodes of a cluster, by their
// names. Over TLS it verifies them against the system's roots and every
// certificate in TLS_CERT_FILE: the nodes of one deployment serve one
// certificate (as the Helm chart's pods do) or certificates of a CA whose
// certificate TLS_CERT_FILE's chain holds. Never skipped.
func PeerClient(node Node, timeout time.Duration) (*http.Client, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	if node.TLSCert == "" {
		return c, nil
	}
	certs, err := readCertificates(node.TLSCert)
	if err != nil {
		return nil, fmt.Errorf("TLS_CERT_FILE: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool() // none on scratch images: the file's alone
	}
	for _, cert := range certs {
		roots.AddCert(cert)
	}
	c.Transport = &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	return c, nil
}

// readCertificates reads every certificate of a PEM file, the leaf first.
func readCertificates(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}
