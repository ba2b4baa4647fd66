// Package kafkasec turns the TLS and SASL settings of a configuration into
// what kafka-go needs (a *tls.Config and a sasl.Mechanism), for every
// process that talks to the platform's Kafka cluster. It knows nothing of
// topics or consumers.
package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/traffic12123/gateway/internal/config"
)

// Build returns the TLS configuration (nil when TLS is off) and the SASL
// mechanism (nil when none is configured).
func Build(t config.TLS, s config.SASL) (*tls.Config, sasl.Mechanism, error) {
	tc, err := TLS(t)
	if err != nil {
		return nil, nil, err
	}
	if s.Mechanism == "" {
		return tc, nil, nil
	}
	pw, err := s.ResolvePassword()
	if err != nil {
		return nil, nil, err
	}
	var m sasl.Mechanism
	switch s.Mechanism {
	case "plain":
		m = plain.Mechanism{Username: s.Username, Password: pw}
	case "scram-sha-256":
		m, err = scram.Mechanism(scram.SHA256, s.Username, pw)
	case "scram-sha-512":
		m, err = scram.Mechanism(scram.SHA512, s.Username, pw)
	default:
		err = fmt.Errorf("unknown mechanism %q", s.Mechanism)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("kafka sasl: %w", err)
	}
	return tc, m, nil
}

// TLS builds a client TLS configuration; nil when disabled.
func TLS(t config.TLS) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca: no certificates in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
