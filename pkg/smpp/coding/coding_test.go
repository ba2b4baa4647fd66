package coding

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

const sig = "【交管12123】"

func TestGSM7RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []byte
	}{
		{"ascii", "Hello", []byte{0x48, 0x65, 0x6C, 0x6C, 0x6F}},
		{"at and dollar", "@$", []byte{0x00, 0x02}},
		{"underscore", "_", []byte{0x11}},
		{"extension", "{€}", []byte{0x1B, 0x28, 0x1B, 0x65, 0x1B, 0x29}},
		{"latin", "ÄÖÑÜ§¿äöñüà", []byte{0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x60, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F}},
		{"greek", "ΔΦΓΛΩΠΨΣΘΞ", []byte{0x10, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A}},
		{"newline cr", "a\r\nb", []byte{0x61, 0x0D, 0x0A, 0x62}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncodeGSM7(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("EncodeGSM7(%q) = % X, want % X", tc.in, got, tc.want)
			}
			if n := GSM7Len(tc.in); n != len(tc.want) {
				t.Fatalf("GSM7Len = %d, want %d", n, len(tc.want))
			}
			back, err := DecodeGSM7(got)
			if err != nil || back != tc.in {
				t.Fatalf("DecodeGSM7 = %q, %v; want %q", back, err, tc.in)
			}
		})
	}
}

func TestGSM7Rejects(t *testing.T) {
	for _, in := range []string{"ç", "交", "a`b", "😀"} {
		t.Run(in, func(t *testing.T) {
			_, err := EncodeGSM7(in)
			var ee *EncodeError
			if !errors.As(err, &ee) || !errors.Is(err, ErrNotGSM7) {
				t.Fatalf("EncodeGSM7(%q) err = %v, want *EncodeError wrapping ErrNotGSM7", in, err)
			}
			if IsGSM7(in) || GSM7Len(in) != -1 {
				t.Fatalf("IsGSM7/GSM7Len accept %q", in)
			}
		})
	}
	if _, err := DecodeGSM7([]byte{0x41, 0x80}); !errors.Is(err, ErrInvalidSeptet) {
		t.Fatalf("DecodeGSM7 high octet: %v", err)
	}
}

func TestPack7(t *testing.T) {
	// "hellohello" packed, a textbook example (3GPP TS 23.038 style).
	sept, _ := EncodeGSM7("hellohello")
	packed := Pack7(sept, 0)
	want := []byte{0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37}
	if !bytes.Equal(packed, want) {
		t.Fatalf("Pack7 = % X, want % X", packed, want)
	}
	for fill := range 7 {
		p := Pack7(sept, fill)
		u, err := Unpack7(p, fill, len(sept))
		if err != nil || !bytes.Equal(u, sept) {
			t.Fatalf("fill %d: Unpack7 = % X, %v", fill, u, err)
		}
	}
	if _, err := Unpack7([]byte{0x01}, 0, 2); !errors.Is(err, ErrShortPacked) {
		t.Fatalf("Unpack7 short: %v", err)
	}
}

func TestUCS2(t *testing.T) {
	in := sig + "您的驾驶证😀"
	b := EncodeUCS2(in)
	if len(b) != 2*UCS2Len(in) {
		t.Fatalf("len %d, UCS2Len %d", len(b), UCS2Len(in))
	}
	if !bytes.Equal(b[:2], []byte{0x30, 0x10}) { // 【 U+3010
		t.Fatalf("first unit % X", b[:2])
	}
	out, err := DecodeUCS2(b)
	if err != nil || out != in {
		t.Fatalf("DecodeUCS2 = %q, %v", out, err)
	}
	if _, err := DecodeUCS2([]byte{0x00}); !errors.Is(err, ErrOddUCS2) {
		t.Fatalf("odd: %v", err)
	}
	if s, _ := DecodeUCS2([]byte{0xD8, 0x3D}); s != "\uFFFD" {
		t.Fatalf("lone surrogate = %q", s)
	}
}

func TestSplit(t *testing.T) {
	han := func(n int) string { return strings.Repeat("交", n) }
	tests := []struct {
		name      string
		text      string
		enc       Encoding
		wantEnc   Encoding
		wantParts int
		wantUnits []int // units per part
	}{
		{"empty", "", Auto, GSM7, 1, []int{0}},
		{"gsm7 single full", strings.Repeat("a", 160), Auto, GSM7, 1, []int{160}},
		{"gsm7 two parts", strings.Repeat("a", 161), Auto, GSM7, 2, []int{153, 8}},
		{"gsm7 escape not split", strings.Repeat("a", 152) + "€" + strings.Repeat("b", 10), Auto, GSM7, 2, []int{152, 12}},
		{"gsm7 forced ucs2", "hello", UCS2, UCS2, 1, []int{5}},
		{"ucs2 single full", han(70), Auto, UCS2, 1, []int{70}},
		{"ucs2 two parts", han(71), Auto, UCS2, 2, []int{67, 4}},
		{"ucs2 signature long", sig + han(120), Auto, UCS2, 2, []int{67, 62}},
		{"ucs2 surrogate not split", han(66) + "😀" + han(10), Auto, UCS2, 2, []int{66, 12}},
		{"ucs2 three parts", han(67 * 3), Auto, UCS2, 3, []int{67, 67, 67}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Split(tc.text, tc.enc, 0x2A)
			if err != nil {
				t.Fatal(err)
			}
			if p.Encoding != tc.wantEnc || len(p.Parts) != tc.wantParts {
				t.Fatalf("got %s × %d, want %s × %d", p.Encoding, len(p.Parts), tc.wantEnc, tc.wantParts)
			}
			if e, n := Count(tc.text); tc.enc == Auto && (e != p.Encoding || n != len(p.Parts)) {
				t.Fatalf("Count = %s, %d", e, n)
			}
			var rebuilt strings.Builder
			for i, part := range p.Parts {
				if n := airOctets(p, part); n > 140 {
					t.Fatalf("part %d needs %d octets on air", i, n)
				}
				payload := part
				if p.UDHI() {
					h, rest, err := SplitUDH(part)
					if err != nil || !h.Concat || h.Ref != 0x2A || int(h.Total) != len(p.Parts) || int(h.Seq) != i+1 {
						t.Fatalf("part %d UDH %+v %v", i, h, err)
					}
					if part[0] != 5 {
						t.Fatalf("UDH length %d, want 5", part[0])
					}
					payload = rest
				}
				units := len(payload)
				if p.Encoding == UCS2 {
					units /= 2
				}
				if units != tc.wantUnits[i] {
					t.Fatalf("part %d has %d units, want %d", i, units, tc.wantUnits[i])
				}
				s, err := Decode(p.DataCoding, payload)
				if err != nil {
					t.Fatal(err)
				}
				rebuilt.WriteString(s)
			}
			if rebuilt.String() != tc.text {
				t.Fatalf("reassembled %q", rebuilt.String())
			}
		})
	}
}

// airOctets is the size of a part over the air: GSM7 septets are packed
// there, after the header and the fill bits that align them.
func airOctets(p Plan, part []byte) int {
	if p.Encoding != GSM7 {
		return len(part)
	}
	if !p.UDHI() {
		return (7*len(part) + 7) / 8
	}
	udh := 1 + int(part[0])
	bits := 8 * udh
	bits += (7 - bits%7) % 7 // fill
	return (bits + 7*(len(part)-udh) + 7) / 8
}

func TestSplitErrors(t *testing.T) {
	if _, err := Split("交", GSM7, 0); !errors.Is(err, ErrNotGSM7) {
		t.Fatalf("gsm7 of han: %v", err)
	}
	if _, err := Split("a", "latin9", 0); !errors.Is(err, ErrUnknownEncoding) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := Split(strings.Repeat("交", 67*255+1), Auto, 0); !errors.Is(err, ErrTooLong) {
		t.Fatalf("too long: %v", err)
	}
}

func TestDecodeDataCodings(t *testing.T) {
	tests := []struct {
		name string
		dc   byte
		in   []byte
		want string
		err  bool
	}{
		{"gsm7", 0x00, []byte{0x00, 0x41, 0x1B, 0x65}, "@A€", false},
		{"ia5", 0x01, []byte("TD"), "TD", false},
		{"latin1", 0x03, []byte{0xE9}, "é", false},
		{"ucs2", 0x08, []byte{0x90, 0x00, 0x8B, 0xA2}, "退订", false},
		{"gbk", 0x0F, []byte{0xCD, 0xCB, 0xB6, 0xA9}, "退订", false},
		{"gbk mixed", 0x0F, []byte{0x54, 0x44, 0xB2, 0xE9, 0xD1, 0xAF}, "TD查询", false},
		{"binary", 0x04, []byte{1, 2}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.dc, tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("Decode = %q, %v", got, err)
			}
		})
	}
}

func TestSplitUDH(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want UDH
		rest int
		err  bool
	}{
		{"8-bit", []byte{5, 0, 3, 9, 2, 1, 'x'}, UDH{true, 9, 2, 1}, 1, false},
		{"16-bit", []byte{6, 8, 4, 1, 2, 3, 3}, UDH{true, 0x0102, 3, 3}, 0, false},
		{"other element", []byte{4, 0x24, 1, 0, 0x05 /*truncated*/}, UDH{}, 0, true},
		{"port element skipped", []byte{6, 0x05, 4, 0, 1, 0, 2, 'a', 'b'}, UDH{}, 2, false},
		{"length past end", []byte{9, 0, 3}, UDH{}, 0, true},
		{"empty", nil, UDH{}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, rest, err := SplitUDH(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (h != tc.want || len(rest) != tc.rest) {
				t.Fatalf("got %+v rest %d", h, len(rest))
			}
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add(sig+"您的机动车检验有效期将至", byte(1))
	f.Add(strings.Repeat("a€", 100), byte(2))
	f.Add(strings.Repeat("交😀", 60), byte(3))
	f.Fuzz(func(t *testing.T, s string, ref byte) {
		if !utf8.ValidString(s) || len(s) > 4000 {
			return
		}
		p, err := Split(s, Auto, ref)
		if err != nil {
			if errors.Is(err, ErrTooLong) {
				return
			}
			t.Fatal(err)
		}
		var sb strings.Builder
		for _, part := range p.Parts {
			if n := airOctets(p, part); n > 140 {
				t.Fatalf("part needs %d octets on air", n)
			}
			if p.UDHI() {
				_, part, err = SplitUDH(part)
				if err != nil {
					t.Fatal(err)
				}
			}
			txt, err := Decode(p.DataCoding, part)
			if err != nil {
				t.Fatal(err)
			}
			sb.WriteString(txt)
		}
		if sb.String() != s {
			t.Fatalf("round trip %q → %q", s, sb.String())
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(byte(0), []byte{0x1B, 0x65, 0x41})
	f.Add(byte(8), []byte{0x30, 0x10, 0xD8, 0x3D})
	f.Add(byte(3), []byte("id:1 stat:DELIVRD"))
	f.Fuzz(func(t *testing.T, dc byte, b []byte) {
		s, err := Decode(dc, b)
		if err != nil {
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 from % X", b)
		}
	})
}

func FuzzSplitUDH(f *testing.F) {
	f.Add([]byte{5, 0, 3, 9, 2, 1, 'x'})
	f.Add([]byte{6, 8, 4, 1, 2, 3, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, rest, err := SplitUDH(b)
		if err == nil && len(rest) > len(b)-1 {
			t.Fatalf("rest longer than input")
		}
	})
}

func FuzzUnpack7(f *testing.F) {
	f.Add([]byte{0xE8, 0x32, 0x9B}, 0)
	f.Fuzz(func(t *testing.T, b []byte, fill int) {
		fill = (fill%7 + 7) % 7
		n := (8*len(b) - fill) / 7
		u, err := Unpack7(b, fill, n)
		if err != nil {
			t.Fatal(err)
		}
		p := Pack7(u, fill)
		u2, err := Unpack7(p, fill, n)
		if err != nil || !bytes.Equal(u, u2) {
			t.Fatalf("repack mismatch")
		}
	})
}

func BenchmarkSplitUCS2(b *testing.B) {
	s := sig + "您的小型汽车（京A12345）检验有效期至2026年12月31日，请在有效期满前三个月内到检验机构检验。逾期未检验的，不得上道路行驶。"
	for b.Loop() {
		if _, err := Split(s, Auto, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCount(b *testing.B) {
	s := sig + "您的小型汽车检验有效期至2026年12月31日，请及时检验。"
	for b.Loop() {
		Count(s)
	}
}
