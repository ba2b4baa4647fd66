package ivr

import (
	"bytes"
	"strconv"
	"strings"
)

// Offer is what the IVR needs to know about an SDP offer before answering:
// whether it carries audio we can speak (PCMU or PCMA) and which payload
// type telephone-events use. diago negotiates the media itself; this check
// lets the server refuse an unusable offer with 488 before any resources are
// allocated.
type Offer struct {
	Audio          bool // an m=audio line with a non-zero port
	PCMU, PCMA     bool
	TelephoneEvent int // payload type, -1 when not offered
	Host           string
	Port           int
}

// maxSDP bounds what ParseOffer reads.
const maxSDP = 16 << 10

// ParseOffer reads an SDP body. It never fails: a malformed body gives an
// Offer without audio.
func ParseOffer(body []byte) Offer {
	o := Offer{TelephoneEvent: -1}
	if len(body) > maxSDP {
		body = body[:maxSDP]
	}
	inAudio := false
	var fmts []int
	rtpmap := map[int]string{}
	for _, line := range bytes.Split(body, []byte("\n")) {
		l := strings.TrimRight(string(line), "\r ")
		if len(l) < 2 || l[1] != '=' {
			continue
		}
		key, val := l[0], l[2:]
		switch key {
		case 'm':
			f := strings.Fields(val)
			inAudio = len(f) >= 4 && f[0] == "audio" && !o.Audio
			if !inAudio {
				continue
			}
			port, err := strconv.Atoi(f[1])
			if err != nil || port <= 0 || port > 65535 {
				inAudio = false
				continue
			}
			o.Audio, o.Port = true, port
			for _, s := range f[3:] {
				if pt, err := strconv.Atoi(s); err == nil && pt >= 0 && pt < 128 {
					fmts = append(fmts, pt)
				}
			}
		case 'c':
			if f := strings.Fields(val); len(f) >= 3 && (o.Host == "" || inAudio) {
				o.Host = f[2]
			}
		case 'a':
			if !inAudio || !strings.HasPrefix(val, "rtpmap:") {
				continue
			}
			pts, enc, ok := strings.Cut(val[len("rtpmap:"):], " ")
			if !ok {
				continue
			}
			if pt, err := strconv.Atoi(pts); err == nil && pt >= 0 && pt < 128 {
				rtpmap[pt] = strings.ToLower(strings.TrimSpace(enc))
			}
		}
	}
	for _, pt := range fmts {
		enc, mapped := rtpmap[pt]
		switch {
		case pt == 0 && (!mapped || strings.HasPrefix(enc, "pcmu/8000")):
			o.PCMU = true
		case pt == 8 && (!mapped || strings.HasPrefix(enc, "pcma/8000")):
			o.PCMA = true
		case strings.HasPrefix(enc, "pcmu/8000"):
			o.PCMU = true
		case strings.HasPrefix(enc, "pcma/8000"):
			o.PCMA = true
		case strings.HasPrefix(enc, "telephone-event/8000") && o.TelephoneEvent < 0:
			o.TelephoneEvent = pt
		}
	}
	return o
}

// Usable reports whether the IVR can answer the offer.
func (o Offer) Usable() bool { return o.Audio && (o.PCMU || o.PCMA) }
