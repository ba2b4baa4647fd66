package kafkasec

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/config"
)

func TestBuild(t *testing.T) {
	t.Setenv("KAFKA_PW", "s3cret")
	for _, tc := range []struct {
		name     string
		sasl     config.SASL
		wantMech string
		wantErr  bool
	}{
		{"none", config.SASL{}, "", false},
		{"plain", config.SASL{Mechanism: "plain", Username: "u", PasswordEnv: "KAFKA_PW"}, "PLAIN", false},
		{"scram-256", config.SASL{Mechanism: "scram-sha-256", Username: "u", PasswordEnv: "KAFKA_PW"}, "SCRAM-SHA-256", false},
		{"scram-512", config.SASL{Mechanism: "scram-sha-512", Username: "u", Password: "x"}, "SCRAM-SHA-512", false},
		{"unset env", config.SASL{Mechanism: "plain", Username: "u", PasswordEnv: "KAFKA_PW_UNSET"}, "", true},
		{"unknown", config.SASL{Mechanism: "gssapi", Username: "u"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc0, m, err := Build(config.TLS{}, tc.sasl)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc0 != nil {
				t.Error("TLS on though disabled")
			}
			if got := ""; m != nil {
				got = m.Name()
				if got != tc.wantMech {
					t.Errorf("mechanism %q, want %q", got, tc.wantMech)
				}
			} else if tc.wantMech != "" {
				t.Errorf("no mechanism, want %q", tc.wantMech)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafka"}, NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	tc, err := TLS(config.TLS{Enabled: true, CAFile: ca, ServerName: "kafka"})
	if err != nil || tc == nil || tc.RootCAs == nil || tc.ServerName != "kafka" {
		t.Fatalf("tls = %+v, %v", tc, err)
	}
	if _, err := TLS(config.TLS{Enabled: true, CAFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Error("missing CA file accepted")
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := TLS(config.TLS{Enabled: true, CAFile: bad}); err == nil {
		t.Error("CA file without certificates accepted")
	}
}
