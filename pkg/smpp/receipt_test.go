package smpp

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

func TestParseReceiptText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Receipt
		err  bool
	}{
		{
			"standard",
			"id:5f2a9c01 sub:001 dlvrd:001 submit date:2611270830 done date:2611270831 stat:DELIVRD err:000 text:您好",
			Receipt{MessageID: "5f2a9c01", TextID: "5f2a9c01", Sub: "001", Dlvrd: "001", SubmitDate: "2611270830", DoneDate: "2611270831", Stat: "DELIVRD", Err: "000", Text: "您好", State: StateDelivered},
			false,
		},
		{
			"upper case keys, Text with colon",
			"ID:42 SUB:001 DLVRD:000 SUBMIT DATE:2611270830 DONE DATE:2611270900 STAT:UNDELIV ERR:011 TEXT:stat:DELIVRD id:9",
			Receipt{MessageID: "42", TextID: "42", Sub: "001", Dlvrd: "000", SubmitDate: "2611270830", DoneDate: "2611270900", Stat: "UNDELIV", Err: "011", Text: "stat:DELIVRD id:9", State: StateUndeliverable},
			false,
		},
		{
			"minimal, long spelling",
			"id:abc stat:expired",
			Receipt{MessageID: "abc", TextID: "abc", Stat: "EXPIRED", State: StateExpired},
			false,
		},
		{
			"seconds in dates, no text",
			"id:7 sub:1 dlvrd:1 submit date:261127083015 done date:261127083020 stat:REJECTD err:0",
			Receipt{MessageID: "7", TextID: "7", Sub: "1", Dlvrd: "1", SubmitDate: "261127083015", DoneDate: "261127083020", Stat: "REJECTD", Err: "0", State: StateRejected},
			false,
		},
		{"no stat", "id:7 sub:1", Receipt{}, true},
		{"not a receipt", "您的验证码是123456", Receipt{}, true},
		{"key inside a word", "uid:7 stat:DELIVRD", Receipt{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseReceiptText(tc.in)
			if tc.err {
				if !errors.Is(err, ErrNotReceipt) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

func TestParseReceipt(t *testing.T) {
	text := []byte("id:1234567890 sub:001 dlvrd:001 submit date:2611270830 done date:2611270831 stat:DELIVRD err:000 text:")
	tests := []struct {
		name      string
		sm        SM
		wantID    string
		wantState MessageState
		err       error
	}{
		{"text only", SM{ESMClass: ESMClassReceipt, ShortMessage: text}, "1234567890", StateDelivered, nil},
		{"TLV id wins (hex vs decimal)", SM{ESMClass: ESMClassReceipt, ShortMessage: text,
			TLVs: TLVs{{TagReceiptedMessageID, CStringValue("499602D2")}}}, "499602D2", StateDelivered, nil},
		{"TLV state wins", SM{ESMClass: ESMClassReceipt, ShortMessage: text,
			TLVs: TLVs{{TagMessageState, []byte{byte(StateUndeliverable)}}}}, "1234567890", StateUndeliverable, nil},
		{"TLVs only", SM{ESMClass: ESMClassReceipt,
			TLVs: TLVs{{TagReceiptedMessageID, CStringValue("x1")}, {TagMessageState, []byte{byte(StateExpired)}}}}, "x1", StateExpired, nil},
		{"in message_payload", SM{ESMClass: ESMClassReceipt, TLVs: TLVs{{TagMessagePayload, text}}}, "1234567890", StateDelivered, nil},
		{"UCS2 text", SM{ESMClass: ESMClassReceipt, DataCoding: 8, ShortMessage: coding.EncodeUCS2(string(text))}, "1234567890", StateDelivered, nil},
		{"underscore id survives data_coding 0", SM{ESMClass: ESMClassReceipt, ShortMessage: []byte("id:a_b@c stat:DELIVRD")}, "a_b@c", StateDelivered, nil},
		{"MO, not a receipt", SM{ShortMessage: text}, "", 0, ErrNotReceipt},
		{"receipt flag, garbage", SM{ESMClass: ESMClassReceipt, ShortMessage: []byte("hello")}, "", 0, ErrNotReceipt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseReceipt(&tc.sm)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (r.MessageID != tc.wantID || r.State != tc.wantState) {
				t.Fatalf("got %q %v", r.MessageID, r.State)
			}
		})
	}
}

func TestReceiptTextRoundTrip(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	sub := time.Date(2026, 11, 27, 8, 30, 0, 0, loc)
	done := sub.Add(time.Minute)
	s := ReceiptText("abc", 1, 1, sub, done, "DELIVRD", "000", "hello world, this is long")
	r, err := ParseReceiptText(s)
	if err != nil {
		t.Fatal(err)
	}
	if r.MessageID != "abc" || r.Text != "hello world, this is" || r.State != StateDelivered {
		t.Fatalf("%+v", r)
	}
	got, err := ParseReceiptTime(r.DoneDate, loc)
	if err != nil || !got.Equal(done) {
		t.Fatalf("done date %v %v", got, err)
	}
	if _, err := ParseReceiptTime("2611", loc); err == nil {
		t.Fatal("short date accepted")
	}
	if !StateDelivered.Final() || StateEnroute.Final() || StateAccepted.Final() || StateRejected.Stat() != "REJECTD" {
		t.Fatal("state helpers")
	}
}

func FuzzParseReceiptText(f *testing.F) {
	f.Add("id:5f2a9c01 sub:001 dlvrd:001 submit date:2611270830 done date:2611270831 stat:DELIVRD err:000 text:")
	f.Add("ID:1 STAT:UNDELIV TEXT:id:2")
	f.Add("text:id: stat:")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReceiptText(s)
		if err != nil {
			return
		}
		if r.MessageID == "" || r.Stat == "" {
			t.Fatalf("accepted without id or stat: %+v", r)
		}
	})
}
