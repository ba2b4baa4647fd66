package dispatch

import (
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/rules"
)

// settingsOf is a rules set that has set-wide settings (rules.Set).
type settingsOf interface {
	Settings() rules.Settings
}

// setCaps returns the per-recipient caps of the batch's rule set
// (rules/settings.yaml caps: the one source of truth); an evaluator
// without settings has none.
func setCaps(ev Evaluator) policy.Caps {
	s, ok := ev.(settingsOf)
	if !ok {
		return policy.Caps{}
	}
	c := s.Settings().Caps
	return policy.Caps{Day: c.PerRecipientPerDay, Week: c.PerRecipientPerWeek}
}
