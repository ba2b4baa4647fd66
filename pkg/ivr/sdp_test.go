package ivr

import "testing"

func TestParseOffer(t *testing.T) {
	tests := []struct {
		name string
		sdp  string
		want Offer
	}{
		{"pcmu pcma te", "v=0\r\nc=IN IP4 10.1.2.3\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
			Offer{Audio: true, PCMU: true, PCMA: true, TelephoneEvent: 101, Host: "10.1.2.3", Port: 4000}},
		{"static types without rtpmap", "m=audio 5000 RTP/AVP 8\n", Offer{Audio: true, PCMA: true, TelephoneEvent: -1, Port: 5000}},
		{"dynamic pcmu", "m=audio 5000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n", Offer{Audio: true, PCMU: true, TelephoneEvent: -1, Port: 5000}},
		{"g722 only", "m=audio 5000 RTP/AVP 9\r\n", Offer{Audio: true, TelephoneEvent: -1, Port: 5000}},
		{"port zero", "m=audio 0 RTP/AVP 0\r\n", Offer{TelephoneEvent: -1}},
		{"video only", "m=video 5000 RTP/AVP 96\r\n", Offer{TelephoneEvent: -1}},
		{"garbage", "\x00\xff=\n=\nm=\n", Offer{TelephoneEvent: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseOffer([]byte(tt.sdp)); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseOffer(f *testing.F) {
	f.Add([]byte("v=0\r\nc=IN IP4 10.1.2.3\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	f.Add([]byte("m=audio 1 RTP/AVP 96\na=rtpmap:96 PCMA/8000\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o := ParseOffer(b)
		if o.Usable() && (o.Port <= 0 || o.Port > 65535) {
			t.Fatalf("usable offer with port %d", o.Port)
		}
		if o.TelephoneEvent > 127 {
			t.Fatalf("payload type %d", o.TelephoneEvent)
		}
	})
}

func FuzzReadWAV(f *testing.F) {
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadWAV(bytesReader(b))
	})
}
