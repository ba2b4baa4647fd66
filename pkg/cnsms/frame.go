package cnsms

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// HeaderLen is the length of the common header: Total_Length,
// Command_Id, Sequence_Id, four octets each, big-endian.
const HeaderLen = 12

// RespBit is set in the command id of every response.
const RespBit uint32 = 0x80000000

// DefaultMaxFrame bounds a frame read from the peer. CMPP 3.0's largest
// SUBMIT (100 destinations of 32 octets) is 3,491 octets; SMGP's is
// smaller. Anything longer is garbage or an attack.
const DefaultMaxFrame = 8192

// Frame is one PDU: its command id, sequence id and body (the octets
// after the header).
type Frame struct {
	Cmd  uint32
	Seq  uint32
	Body []byte
}

// IsResponse reports whether f answers a request.
func (f Frame) IsResponse() bool { return f.Cmd&RespBit != 0 }

// ErrFrameLength is a Total_Length below the header or above the limit.
var ErrFrameLength = errors.New("cnsms: bad frame length")

// ReadFrame reads one frame. A length outside [HeaderLen, max] is an
// error after which the stream cannot be resynchronised.
func ReadFrame(r *bufio.Reader, max int) (Frame, error) {
	var h [HeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(h[0:4])
	if n < HeaderLen || int64(n) > int64(max) {
		return Frame{}, fmt.Errorf("%w: %d", ErrFrameLength, n)
	}
	f := Frame{Cmd: binary.BigEndian.Uint32(h[4:8]), Seq: binary.BigEndian.Uint32(h[8:12])}
	if n > HeaderLen {
		f.Body = make([]byte, n-HeaderLen)
		if _, err := io.ReadFull(r, f.Body); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
	}
	return f, nil
}

// ParseFrame splits one whole frame held in b (for tests and fuzzing).
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < HeaderLen {
		return Frame{}, fmt.Errorf("%w: %d octets", ErrFrameLength, len(b))
	}
	n := binary.BigEndian.Uint32(b[0:4])
	if int64(n) != int64(len(b)) {
		return Frame{}, fmt.Errorf("%w: header says %d, have %d", ErrFrameLength, n, len(b))
	}
	return Frame{Cmd: binary.BigEndian.Uint32(b[4:8]), Seq: binary.BigEndian.Uint32(b[8:12]), Body: b[HeaderLen:]}, nil
}

// AppendFrame appends f with its header to b.
func AppendFrame(b []byte, f Frame) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(HeaderLen+len(f.Body)))
	b = binary.BigEndian.AppendUint32(b, f.Cmd)
	b = binary.BigEndian.AppendUint32(b, f.Seq)
	return append(b, f.Body...)
}
