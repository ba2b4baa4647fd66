package kannel

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	var b strings.Builder
	err := Render(&b, Config{Dir: "/tmp/k", AdminPort: 1, SmsboxPort: 2, SendsmsPort: 3, LogLevel: 2, SMSCs: []SMSC{
		{ID: "china_mobile", Port: 4, SystemID: "12123", Password: "pw", Window: 100},
		{ID: "china_unicom", Port: 5, SystemID: "12123", Password: "pw", Window: 50},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"admin-port = 1", "smsbox-port = 2", "sendsms-port = 3", "bearerbox-port = 2",
		"smsc-id = china_mobile", "allowed-smsc-id = china_unicom", "port = 5",
		"max-pending-submits = 100", "max-pending-submits = 50", "transceiver-mode = true",
		`log-file = "/tmp/k/bearerbox.log"`, "max-messages = 10", "dlr-storage = internal",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if n := strings.Count(out, "group = smsc\n"); n != 2 {
		t.Errorf("%d smsc groups, want 2", n)
	}
}
