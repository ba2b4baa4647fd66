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
	// Node and Time are the first two parts of SGIP's three-part sequence
	// number (node id, MMDDHHMMSS); Seq is the third. Zero elsewhere.
	Node, Time uint32
}

// SGIPHeaderLen is SGIP's header: length, command id and the 12-octet
// sequence number (node id, time, sequence).
const SGIPHeaderLen = 20

// Framing tells the 12-octet header (CMPP, SMGP) from SGIP's 20.
type Framing int

// Framings.
const (
	Framing12 Framing = iota
	FramingSGIP
)

// HeaderLen is the header length of f.
func (f Framing) HeaderLen() int {
	if f == FramingSGIP {
		return SGIPHeaderLen
	}
	return HeaderLen
}

// IsResponse reports whether f answers a request.
func (f Frame) IsResponse() bool { return f.Cmd&RespBit != 0 }

// ErrFrameLength is a Total_Length below the header or above the limit.
var ErrFrameLength = errors.New("cnsms: bad frame length")

// ReadFrame reads one frame with the 12-octet header. A length outside
// [HeaderLen, maxLen] is an error after which the stream cannot be
// resynchronised.
func ReadFrame(r *bufio.Reader, maxLen int) (Frame, error) { return ReadFrameOf(r, maxLen, Framing12) }

// ReadFrameOf reads one frame in the given framing.
func ReadFrameOf(r *bufio.Reader, maxLen int, fr Framing) (Frame, error) {
	hl := fr.HeaderLen()
	var hb [SGIPHeaderLen]byte
	h := hb[:hl]
	if _, err := io.ReadFull(r, h); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(h[0:4])
	if n < uint32(hl) || int64(n) > int64(maxLen) {
		return Frame{}, fmt.Errorf("%w: %d", ErrFrameLength, n)
	}
	f := Frame{Cmd: binary.BigEndian.Uint32(h[4:8])}
	if fr == FramingSGIP {
		f.Node, f.Time, f.Seq = binary.BigEndian.Uint32(h[8:12]), binary.BigEndian.Uint32(h[12:16]), binary.BigEndian.Uint32(h[16:20])
	} else {
		f.Seq = binary.BigEndian.Uint32(h[8:12])
	}
	if n > uint32(hl) {
		f.Body = make([]byte, n-uint32(hl))
		if _, err := io.ReadFull(r, f.Body); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
	}
	return f, nil
}

// ParseFrame splits one whole frame held in b (12-octet header).
func ParseFrame(b []byte) (Frame, error) { return ParseFrameOf(b, Framing12) }

// ParseFrameOf splits one whole frame in the given framing.
func ParseFrameOf(b []byte, fr Framing) (Frame, error) {
	hl := fr.HeaderLen()
	if len(b) < hl {
		return Frame{}, fmt.Errorf("%w: %d octets", ErrFrameLength, len(b))
	}
	n := binary.BigEndian.Uint32(b[0:4])
	if int64(n) != int64(len(b)) {
		return Frame{}, fmt.Errorf("%w: header says %d, have %d", ErrFrameLength, n, len(b))
	}
	f := Frame{Cmd: binary.BigEndian.Uint32(b[4:8]), Body: b[hl:]}
	if fr == FramingSGIP {
		f.Node, f.Time, f.Seq = binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint32(b[12:16]), binary.BigEndian.Uint32(b[16:20])
	} else {
		f.Seq = binary.BigEndian.Uint32(b[8:12])
	}
	return f, nil
}

// AppendFrame appends f with the 12-octet header to b.
func AppendFrame(b []byte, f Frame) []byte { return AppendFrameOf(b, f, Framing12) }

// AppendFrameOf appends f in the given framing.
func AppendFrameOf(b []byte, f Frame, fr Framing) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(fr.HeaderLen()+len(f.Body)))
	b = binary.BigEndian.AppendUint32(b, f.Cmd)
	if fr == FramingSGIP {
		b = binary.BigEndian.AppendUint32(b, f.Node)
		b = binary.BigEndian.AppendUint32(b, f.Time)
	}
	b = binary.BigEndian.AppendUint32(b, f.Seq)
	return append(b, f.Body...)
}
