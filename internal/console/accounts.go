package console

import (
	"net/http"
	"strings"
)

// AccountView is one console account as the accounts page shows it: never
// its password hash.
type AccountView struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Sessions int    `json:"sessions"` // live sessions in this process
}

// AccountsPage answers GET /api/accounts (admins only).
type AccountsPage struct {
	File     string        `json:"file"` // the accounts file (http.console_accounts_file)
	Accounts []AccountView `json:"accounts"`
	// Add is the command that appends an account to the file (the
	// password on stdin; only its bcrypt hash is written). The console
	// does not write the file, and smsgw reads it only at start.
	Add string `json:"add"`
}

// accountsList is the read-only accounts page: who may log in, with which
// role, and where that is configured. Changes are made in the file.
func (c *Console) accountsList(w http.ResponseWriter, _ *http.Request, _ *session) {
	live := c.sessions.perUser()
	file := c.accounts.File()
	if strings.ContainsAny(file, " \t'\"$`\\") {
		file = "'" + strings.ReplaceAll(file, "'", `'\''`) + "'"
	}
	out := AccountsPage{File: c.accounts.File(), Accounts: []AccountView{},
		Add: "smsgw console-account NAME ROLE < password-file >> " + file}
	for _, a := range c.accounts.List() {
		out.Accounts = append(out.Accounts, AccountView{Name: a.Name, Role: a.Role, Sessions: live[a.Name]})
	}
	writeJSON(w, out)
}
