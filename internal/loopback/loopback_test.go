package loopback

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddr: the addresses are on loopback, below the ephemeral range
// (where no outgoing connection takes them), never handed out twice, and
// bindable.
func TestFreeAddr(t *testing.T) {
	_, first := pickRange()
	seen := map[string]bool{}
	for _, network := range []string{"tcp", "udp", "tcp", "udp"} {
		for range 50 {
			addr, err := FreeAddr(network)
			if err != nil {
				t.Fatal(err)
			}
			host, p, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatal(err)
			}
			port, _ := strconv.Atoi(p)
			if host != "127.0.0.1" || port >= first || port < 1024 {
				t.Fatalf("%s: %s, want 127.0.0.1 and a port in [1024, %d)", network, addr, first)
			}
			if seen[addr] {
				t.Fatalf("%s handed out twice", addr)
			}
			seen[addr] = true
		}
		addr, _ := FreeAddr(network)
		if err := probe(network, addr); err != nil {
			t.Fatalf("%s %s: %v", network, addr, err)
		}
	}
}

// TestFreeAddrSkipsBound: a port something listens on is not handed out.
func TestFreeAddrSkipsBound(t *testing.T) {
	lo, hi := pickRange()
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	// Hold every port of a small range and ask FreeAddr for addresses
	// there: it must go elsewhere.
	bound := map[string]bool{}
	for port := lo; port < min(lo+200, hi); port++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, ln)
		bound[ln.Addr().String()] = true
	}
	for range 500 {
		addr, err := FreeAddr("tcp")
		if err != nil {
			t.Fatal(err)
		}
		if bound[addr] {
			t.Fatalf("handed out %s, which is bound", addr)
		}
	}
	if _, err := FreeAddr("sctp"); err == nil {
		t.Error("FreeAddr(sctp): no error")
	}
}
