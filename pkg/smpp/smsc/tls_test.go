package smsc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

func TestTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	s := start(t, smsc.Config{TLS: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}})
	nc, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	e := over(t, nc)
	if st := e.bind(smpp.BindTransceiver, "gw", "x"); st != smpp.StatusOK {
		t.Fatal(st)
	}
	p := e.submit(sm("12123", "13800138000", 8, ucs2("加密"), 1))
	if r := e.receipts(1, 5*time.Second)[0]; r.MessageID != p.MessageID() {
		t.Errorf("receipt %q for %q", r.MessageID, p.MessageID())
	}

	plain := dial(t, s.Addr()) // a plain-text ESME gets nowhere
	ch := plain.start(&smpp.PDU{Command: smpp.BindTransceiver, Body: &smpp.Bind{SystemID: "gw", InterfaceVersion: 0x34}})
	select {
	case p, ok := <-ch:
		if ok {
			t.Fatalf("plain bind answered: %s", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("plain connection neither answered nor closed")
	}
}
