package smgp

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"time"
)

// CST is China Standard Time, the carriers' clocks.
var CST = time.FixedZone("CST", 8*3600)

// Timestamp is Login's TimeStamp for t: MMDDHHMMSS in CST as a number.
func Timestamp(t time.Time) uint32 {
	t = t.In(CST)
	return uint32(t.Month())*100000000 + uint32(t.Day())*1000000 + uint32(t.Hour())*10000 +
		uint32(t.Minute())*100 + uint32(t.Second())
}

// AuthenticatorClient is MD5(ClientID + 7 zero octets + shared secret +
// TimeStamp as 10 digits).
func AuthenticatorClient(clientID, secret string, ts uint32) [16]byte {
	b := make([]byte, 0, len(clientID)+7+len(secret)+10)
	b = append(b, clientID...)
	b = append(b, make([]byte, 7)...)
	b = append(b, secret...)
	b = fmt.Appendf(b, "%010d", ts)
	return md5.Sum(b)
}

// AuthenticatorServer is MD5(Status (4 octets) + AuthenticatorClient +
// shared secret).
func AuthenticatorServer(status uint32, client [16]byte, secret string) [16]byte {
	b := binary.BigEndian.AppendUint32(nil, status)
	b = append(b, client[:]...)
	b = append(b, secret...)
	return md5.Sum(b)
}
