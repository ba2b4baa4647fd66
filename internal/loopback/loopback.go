// Package loopback hands out loopback addresses for processes that are
// told where to listen before they start: the simulators and gateways
// that the demo and the tests wire to each other.
package loopback

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// FreeAddr returns "127.0.0.1:port" with a port that nothing is bound to
// on network ("tcp" or "udp") now and that FreeAddr has not handed out
// before in this process.
//
// The port is chosen below the kernel's ephemeral range. Listening on
// port 0 gives a port from that range, and any outgoing connection can
// take it as its local port in the time between handing the address out
// and binding it, the connections of the process that is to bind it
// among them. On CI (2026-12-03) that left a gateway's SGIP listener
// without its port: one carrier's reports had nowhere to go and its
// messages waited out the test. Ports below the range are only taken by
// binding them. Where the range leaves no room below it, port 0 it is.
func FreeAddr(network string) (string, error) {
	lo, hi := pickRange()
	for range 64 {
		if hi <= lo {
			break
		}
		port := lo + rand.IntN(hi-lo)
		if !claim(port) {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := probe(network, addr); err == nil {
			return addr, nil
		}
	}
	return anyPort(network)
}

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// claim records port as handed out; false if it already was.
func claim(port int) bool {
	mu.Lock()
	defer mu.Unlock()
	if handed[port] {
		return false
	}
	handed[port] = true
	return true
}

// pickRange is [lo, hi): the upper half of the ports below the ephemeral
// range, above the well-known and the commonly registered low ones.
func pickRange() (lo, hi int) {
	first := 32768 // Linux's default start of net.ipv4.ip_local_port_range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				first = v
			}
		}
	}
	return max(first/2, 10000), first
}

func probe(network, addr string) error {
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		return ln.Close()
	case "udp":
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	return fmt.Errorf("loopback: network %q (want tcp or udp)", network)
}

// anyPort is the fallback: a port the kernel picks.
func anyPort(network string) (string, error) {
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer ln.Close()
		return ln.Addr().String(), nil
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.LocalAddr().String(), nil
	}
	return "", fmt.Errorf("loopback: network %q (want tcp or udp)", network)
}
