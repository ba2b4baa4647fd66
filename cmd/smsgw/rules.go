package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/rules"
)

// cmdRules runs the operators' offline tools; they share the server's
// loader, so what passes here loads in the gateway.
func cmdRules(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("want check, test or preview")
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("rules "+sub, flag.ContinueOnError)
	now := fs.String("now", "", "evaluation time, RFC 3339 or 2006-01-02T15:04 Beijing time (default: now)")
	evFile := fs.String("event", "", "preview: a JSON event (CloudEvents, as on Kafka)")
	dirFlag := fs.String("rules", "rules", "preview: rules directory")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	dir := *dirFlag
	if fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	at, err := parseNow(*now)
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = time.Now() // the flag's default
	}
	switch sub {
	case "check":
		set, err := rules.LoadDir(dir, rules.Options{})
		if err != nil {
			printLoadErrors(stderr, err)
			return exitCode(1)
		}
		rechecked, calls := 0, 0
		for _, r := range set.Rules() {
			if r.StillDue != "" {
				rechecked++
			}
			if r.Voice() {
				calls++
			}
		}
		fmt.Fprintf(stdout, "%s: %d rules (%d re-checked at send time, %d calling), %d inhibit rules, %d templates OK (hash %s)\n",
			dir, len(set.Rules()), rechecked, calls, len(set.Inhibits()), len(set.Templates()), set.Hash())
		for _, r := range set.Rules() {
			if r.Voice() {
				fmt.Fprintf(stdout, "  %s: %s\n", r.ID, voiceSummary(r))
			}
		}
		return nil
	case "test":
		rep, err := rules.RunTests(dir, at)
		if err != nil {
			printLoadErrors(stderr, err)
			return exitCode(1)
		}
		fmt.Fprint(stdout, rep.String())
		if !rep.OK() {
			return exitCode(1)
		}
		return nil
	case "preview":
		if *evFile == "" {
			return fmt.Errorf("preview needs --event FILE")
		}
		b, err := os.ReadFile(*evFile)
		if err != nil {
			return err
		}
		ev, err := event.Decode(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *evFile, err)
		}
		set, err := rules.LoadDir(dir, rules.Options{})
		if err != nil {
			printLoadErrors(stderr, err)
			return exitCode(1)
		}
		out, err := rules.Preview(set, ev, at)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, out)
		return nil
	}
	return fmt.Errorf("unknown rules command %q: want check, test or preview", sub)
}

// voiceSummary is a calling rule's channels for rules check: the order,
// the fallback window and how many say items the call speaks.
func voiceSummary(r *rules.Rule) string {
	s := "channels [" + strings.Join(r.Channels, ", ") + "]"
	if r.FallbackAfter > 0 {
		s += ", fallback_after " + rules.ShortDuration(r.FallbackAfter)
	}
	if len(r.Say) > 0 {
		return s + fmt.Sprintf(", says %d items", len(r.Say))
	}
	return s + ", says the SMS text"
}

// printLoadErrors prints one file:line:column line per problem.
func printLoadErrors(w io.Writer, err error) {
	var les rules.LoadErrors
	if errors.As(err, &les) {
		for _, e := range les {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}
