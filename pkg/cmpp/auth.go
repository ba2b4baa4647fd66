package cmpp

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"time"
)

// China Standard Time: the carriers' clocks, for Timestamp and Msg_Id.
var CST = time.FixedZone("CST", 8*3600)

// Timestamp is CONNECT's Timestamp for t: MMDDHHMMSS in China Standard
// Time, as a number.
func Timestamp(t time.Time) uint32 {
	t = t.In(CST)
	return uint32(t.Month())*100000000 + uint32(t.Day())*1000000 + uint32(t.Hour())*10000 +
		uint32(t.Minute())*100 + uint32(t.Second())
}

// AuthenticatorSource is MD5(Source_Addr + 9 zero octets + shared secret
// + Timestamp as 10 digits).
func AuthenticatorSource(sourceAddr, secret string, ts uint32) [16]byte {
	b := make([]byte, 0, len(sourceAddr)+9+len(secret)+10)
	b = append(b, sourceAddr...)
	b = append(b, make([]byte, 9)...)
	b = append(b, secret...)
	b = fmt.Appendf(b, "%010d", ts)
	return md5.Sum(b)
}

// AuthenticatorISMG is MD5(Status + AuthenticatorSource + shared secret),
// Status in the response's layout (4 octets in 3.0, 1 in 2.0).
func AuthenticatorISMG(wire Version, status uint32, src [16]byte, secret string) [16]byte {
	var b []byte
	if wire == V20 {
		b = append(b, byte(status))
	} else {
		b = binary.BigEndian.AppendUint32(b, status)
	}
	b = append(b, src[:]...)
	b = append(b, secret...)
	return md5.Sum(b)
}
