package cmpp

import "github.com/traffic12123/gateway/pkg/cnsms"

// Encoding is how the client encodes text (shared with pkg/smgp).
type Encoding = cnsms.Encoding

// Encodings. UCS2 is the default and what every ISMG takes; GB18030
// (Msg_Fmt 15) only where a carrier asks for it.
const (
	UCS2    = cnsms.UCS2
	GB18030 = cnsms.GB18030
)

// Plan is text cut into Msg_Content parts.
type Plan = cnsms.Plan

// GB18030 limits: octets per single message and per part.
const (
	GBSingle = cnsms.GBSingle
	GBPart   = cnsms.GBPart
)

// Split encodes s and cuts it into parts (see cnsms.Split): UCS2 70/67
// units, GB18030 140/134 octets, UDH 05 00 03 ref total seq.
func Split(s string, enc Encoding, ref byte) (Plan, error) { return cnsms.Split(s, enc, ref) }

// DecodeText turns Msg_Content into text by Msg_Fmt.
func DecodeText(msgFmt byte, b []byte) (string, error) { return cnsms.DecodeText(msgFmt, b) }
