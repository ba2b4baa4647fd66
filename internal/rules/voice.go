package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	yaml "go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/pkg/ivr/say"
)

// Channels a rule can name (Rule.Channels), in the order it tries them.
const (
	ChannelSMS   = "sms"
	ChannelVoice = "voice"
)

// Bounds of fallback_after: shorter than a minute would call before most
// receipts can come; longer than three days is no longer urgent.
const (
	MinFallbackAfter = time.Minute
	MaxFallbackAfter = 72 * time.Hour
)

// MaxSayItems bounds a rule's say list (about a minute of speech; the
// dialler refuses longer notices).
const MaxSayItems = 64

// Say item kinds (pkg/ivr.SayItem): what the value is and how it is spoken.
const (
	SayPrompt = "prompt" // a recorded prompt (prompts/prompts.tsv): its name, or a CEL string yielding one
	SayText   = "text"   // free text, synthesized
	SayNumber = "number" // an integer 0…999999999999: 12 → 十二
	SayMoney  = "money"  // whole yuan: 200 → 两百元
	SayDate   = "date"   // YYYY-MM-DD (or a timestamp, taken in the set's zone)
	SayTime   = "time"   // HH:MM (or a timestamp, taken in the set's zone)
	SayPlate  = "plate"  // 京A12345
	SayDigits = "digits" // one digit at a time
)

// sayKinds maps each kind to the CEL types its value may yield.
var sayKinds = map[string][]*cel.Type{
	SayPrompt: {cel.StringType},
	SayText:   {cel.StringType},
	SayPlate:  {cel.StringType},
	SayDigits: {cel.StringType, cel.IntType, cel.UintType},
	SayNumber: {cel.IntType, cel.UintType, cel.StringType},
	SayMoney:  {cel.IntType, cel.UintType, cel.StringType},
	SayDate:   {cel.TimestampType, cel.StringType},
	SayTime:   {cel.TimestampType, cel.StringType},
}

var sayKindList = []string{SayPlate, SayNumber, SayMoney, SayDate, SayTime, SayDigits, SayText, SayPrompt}

// promptNameRE is the shape of a recorded prompt's name (prompts/<name>.wav).
var promptNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// SaySpec is one item of a rule's say list as written: a kind and a CEL
// expression over event and now, or for a prompt its bare name.
type SaySpec struct {
	Kind  string
	Value string
	Line  int
}

// Voice reports whether the rule calls (voice in its channels).
func (r *Rule) Voice() bool { return slices.Contains(r.Channels, ChannelVoice) }

// VoiceOnly reports whether the rule calls instead of writing.
func (r *Rule) VoiceOnly() bool { return len(r.Channels) == 1 && r.Channels[0] == ChannelVoice }

// sayProg is one compiled say item for one event type.
type sayProg struct {
	kind   string
	prompt string      // a prompt by its bare name
	prog   cel.Program // the value (nil: prompt)
}

// readRuleChannels reads channel (the old single key, sms only) or
// channels, fallback_after and say, and returns the value nodes of the
// say items, compiled later.
func readRuleChannels(f *yfile, m map[string]*yaml.Node, r *Rule) []*yaml.Node {
	one, list := m["channel"], m["channels"]
	switch {
	case one != nil && list != nil:
		f.errAt(one, "rule %s: channel and channels are exclusive (write channels: [sms, voice])", r.ID)
	case one != nil:
		if s, _ := f.str(one, "channel"); s != ChannelSMS {
			f.errAt(one, "rule %s: channel %q: only sms (write channels: [sms, voice] or [voice] to call)", r.ID, s)
		}
	case list != nil:
		if cs, ok := f.strList(list, "channels"); ok {
			switch strings.Join(cs, ",") {
			case ChannelSMS, ChannelSMS + "," + ChannelVoice, ChannelVoice:
				r.Channels = cs
			default:
				f.errAt(list, "rule %s: channels %v: want [sms], [sms, voice] (call when the SMS is not delivered) or [voice]", r.ID, cs)
			}
		}
	}
	fb, after := m["fallback_after"], r.Voice() && !r.VoiceOnly() // [sms, voice]: the call follows the SMS
	switch {
	case fb != nil && !after:
		f.errAt(fb, "rule %s: fallback_after needs channels: [sms, voice] (the call that follows the SMS)", r.ID)
	case fb != nil:
		if d, ok := f.duration(fb, "fallback_after"); ok {
			if d < MinFallbackAfter || d > MaxFallbackAfter {
				f.errAt(fb, "rule %s: fallback_after must be %s..%s", r.ID, ShortDuration(MinFallbackAfter), ShortDuration(MaxFallbackAfter))
			}
			r.FallbackAfter = d
		}
	case after:
		f.errAt(list, "rule %s: channels [sms, voice] need fallback_after (how long to wait for the SMS's delivery before calling)", r.ID)
	}
	if r.Voice() && r.Audience != "" {
		f.errAt(list, "rule %s: voice needs a single recipient (audience rules cannot call)", r.ID)
	}
	return readRuleSay(f, m, r)
}

// readRuleSay reads say: a list of {kind, value}.
func readRuleSay(f *yfile, m map[string]*yaml.Node, r *Rule) []*yaml.Node {
	v := m["say"]
	if v == nil {
		return nil
	}
	if !r.Voice() {
		f.errAt(v, "rule %s: say needs voice in channels", r.ID)
		return nil
	}
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		f.errAt(v, "rule %s: say must be a list of {kind, value} (omit it to speak the SMS text)", r.ID)
		return nil
	}
	if len(v.Content) > MaxSayItems {
		f.errAt(v, "rule %s: say has %d items, at most %d", r.ID, len(v.Content), MaxSayItems)
		return nil
	}
	var nodes []*yaml.Node
	for i, n := range v.Content {
		im := f.fields(n, "say item", "kind", "value")
		if im == nil {
			continue
		}
		what := fmt.Sprintf("say[%d]", i+1)
		kn, vn := im["kind"], im["value"]
		if kn == nil || vn == nil {
			f.errAt(n, "rule %s: %s needs kind and value", r.ID, what)
			continue
		}
		kind, _ := f.str(kn, what+".kind")
		if _, ok := sayKinds[kind]; !ok {
			f.errAt(kn, "rule %s: %s: unknown kind %q (known: %s)", r.ID, what, kind, strings.Join(sayKindList, ", "))
			continue
		}
		val, ok := f.str(vn, what+".value")
		if !ok {
			continue
		}
		r.Say = append(r.Say, SaySpec{Kind: kind, Value: val, Line: vn.Line})
		nodes = append(nodes, vn)
	}
	return nodes
}

// compileSay compiles the rule's say items for one event type.
func (l *loader) compileSay(x exprCtx, r *Rule, nodes []*yaml.Node) []sayProg {
	out := make([]sayProg, 0, len(r.Say))
	for i, s := range r.Say {
		if s.Kind == SayPrompt && promptNameRE.MatchString(s.Value) {
			out = append(out, sayProg{kind: s.Kind, prompt: s.Value})
			continue
		}
		what := fmt.Sprintf("say[%d] (%s)", i+1, s.Kind)
		p := l.compileAny(x, nodes[i], nodes[i].Value, sayKinds[s.Kind], what, false)
		out = append(out, sayProg{kind: s.Kind, prog: p})
	}
	return out
}

// voicePlan evaluates the say items of a voice rule for one event. An
// item whose value is empty (or a zero timestamp: a date not given) is
// left out, as optional clauses drop out of texts; an item that fails to
// evaluate or yields a value its kind cannot speak is an error, handled
// like any rule expression's (the decision is skipped, eval_error).
func (s *Set) voicePlan(r *Rule, items []sayProg, act *activation) (*message.Voice, error) {
	v := &message.Voice{Only: r.VoiceOnly(), FallbackAfter: r.FallbackAfter}
	for i, it := range items {
		if it.prog == nil {
			v.Say = append(v.Say, message.SayItem{Kind: it.kind, Value: it.prompt})
			continue
		}
		val, _, err := it.prog.Eval(act)
		if err != nil {
			return nil, fmt.Errorf("say[%d] (%s): %w", i+1, it.kind, err)
		}
		str, err := sayValue(it.kind, val, s.settings.Location)
		if err != nil {
			return nil, fmt.Errorf("say[%d] (%s): %w", i+1, it.kind, err)
		}
		if str != "" {
			v.Say = append(v.Say, message.SayItem{Kind: it.kind, Value: str})
		}
	}
	return v, nil
}

// sayValue turns a say item's CEL value into the text form the dialler
// speaks (pkg/ivr.SayItem): integers in decimal, dates YYYY-MM-DD and
// times HH:MM in loc. "" means leave the item out.
func sayValue(kind string, v any, loc *time.Location) (string, error) {
	var s string
	switch x := v.(type) {
	case types.String:
		s = strings.TrimSpace(string(x))
	case types.Int:
		s = strconv.FormatInt(int64(x), 10)
	case types.Uint:
		s = strconv.FormatUint(uint64(x), 10)
	case types.Timestamp:
		if x.IsZero() || x.Unix() == 0 { // a date not given reads as the epoch
			return "", nil
		}
		if kind == SayTime {
			return x.In(loc).Format("15:04"), nil
		}
		return x.In(loc).Format("2006-01-02"), nil
	default:
		return "", fmt.Errorf("yielded %T, not a value to speak", v)
	}
	if s == "" {
		return "", nil
	}
	switch kind {
	case SayPrompt:
		if !promptNameRE.MatchString(s) {
			return "", fmt.Errorf("not a prompt name")
		}
	case SayNumber, SayMoney:
		if n, err := strconv.ParseInt(s, 10, 64); err != nil || n < 0 || n > 999_999_999_999 {
			return "", fmt.Errorf("not a number 0…999999999999 (%d characters)", len([]rune(s)))
		}
	case SayDate:
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return "", fmt.Errorf("not a date YYYY-MM-DD")
		}
	case SayTime:
		if _, err := time.Parse("15:04", s); err != nil {
			return "", fmt.Errorf("not a time HH:MM")
		}
	case SayPlate:
		if len(say.Plate(s)) == 0 {
			return "", fmt.Errorf("nothing to speak in the plate")
		}
	case SayDigits:
		if len(say.Digits(s, true)) == 0 {
			return "", fmt.Errorf("no digits")
		}
	}
	return s, nil
}

// ShortDuration prints a duration without zero units: 30m, 1h30m, 72h
// (rules check and preview).
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
