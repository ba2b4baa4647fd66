package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/traffic12123/gateway/internal/app/smsgw"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/open"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/redact"
	"github.com/traffic12123/gateway/internal/route"
)

// cmdTrace answers "why did (or didn't) this driver get this reminder"
// from the ledger.
func cmdTrace(args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	phone := fs.String("phone", "", "recipient's mobile number")
	eventID := fs.String("event", "", "event id")
	licence := fs.String("licence", "", "licence (ID) number")
	plate := fs.String("plate", "", "plate, e.g. 京A12345")
	path := fs.String("config", "config/smsgw.yaml", "configuration file (for the ledger DSN)")
	dsn := fs.String("ledger", "", "ledger DSN (overrides --config), e.g. sqlite://data/ledger.db")
	unmask := fs.Bool("unmask", false, "show phone and ID numbers in full (the operator takes responsibility)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	q := ledger.TraceQuery{EventID: *eventID}
	if *phone != "" {
		n, err := route.Normalize(*phone)
		if err != nil {
			return fmt.Errorf("--phone: %w", err)
		}
		q.Phone = n
	}
	switch {
	case *licence != "" && *plate != "":
		return fmt.Errorf("give --licence or --plate, not both")
	case *licence != "":
		q.Entity = *licence
	case *plate != "":
		q.Entity = *plate
	}
	if q == (ledger.TraceQuery{}) {
		return fmt.Errorf("give at least one of --phone, --event, --licence, --plate")
	}
	d := *dsn
	if d == "" {
		cfg, err := smsgw.LoadConfig(*path)
		if err != nil {
			return err
		}
		if d, err = cfg.LedgerDSN(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	st, err := open.Open(ctx, d, ledger.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	es, err := st.Trace(ctx, q)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		fmt.Fprintln(stdout, "no message in the ledger matches: no rule decided to send anything for this (or it was pruned).")
		return nil
	}
	mask := redact.Phone
	if *unmask {
		mask = identity
	}
	phoneOut := func(p string) string {
		if p == "" {
			return "(no phone)" // suppressed: no_recipient
		}
		return mask(p)
	}
	loc := policy.Shanghai()
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "time (Beijing)\tmessage\trule\tto\twhat\tdetail")
	for _, e := range es {
		var what, detail string
		switch e.Kind {
		case ledger.TraceState:
			what, detail = string(e.State), e.Reason
		case ledger.TracePart:
			what, detail = "part accepted", fmt.Sprintf("%s part %d id %s", e.Carrier, e.Seq+1, e.CarrierID)
		case ledger.TraceReceipt:
			what, detail = "receipt "+e.Stat, fmt.Sprintf("%s id %s err %s", e.Carrier, e.CarrierID, e.Err)
		case ledger.TraceCall:
			what = "call " + string(e.State)
			detail = e.Reason
			if e.Attempt > 0 {
				detail = strings.TrimSpace(fmt.Sprintf("attempt %d %s", e.Attempt, detail))
			}
			if e.SIPCallID != "" {
				detail += " (Call-ID " + e.SIPCallID + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t#%d\t%s\t%s\t%s\t%s\n", e.At.In(loc).Format(time.DateTime+".000"), e.MessageID, e.RuleID, phoneOut(e.Recipient), what, detail)
	}
	return tw.Flush()
}

func identity(s string) string { return s }
